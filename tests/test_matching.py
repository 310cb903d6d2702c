from bot.nlu.components import normalize_example
from bot.nlu.matching import ProcedureIndex, default_index
from bot.vntext import normalize

def distinct_ids(matches):
    """Procedure ids in order of first appearance, without repeats."""
    return list(dict.fromkeys(m.procedure_id for m in sorted(matches, key=lambda m: m.start)))


PHRASES = {"hộ chiếu": "ho-chieu", "passport": "ho-chieu", "tạm trú": "tam-tru",
           "đăng ký tạm trú": "tam-tru", "nhập khẩu": "thuong-tru", "giấy phép lái xe": "doi-gplx"}


def test_finds_aliases_with_and_without_diacritics():
    index = ProcedureIndex(PHRASES)
    assert distinct_ids(index.find("làm hộ chiếu cần gì")) == ["ho-chieu"]
    assert distinct_ids(index.find("lam ho chieu can gi")) == ["ho-chieu"]
    assert distinct_ids(index.find(normalize("lm hc cần j"))) == ["ho-chieu"]


def test_longest_match_wins_and_positions_point_at_words():
    index = ProcedureIndex(PHRASES)
    text = "tôi muốn đăng ký tạm trú"
    [match] = index.find(text)
    assert match.procedure_id == "tam-tru"
    assert text[match.start:match.end] == "đăng ký tạm trú"


def test_two_procedures_are_both_reported_in_order():
    index = ProcedureIndex(PHRASES)
    assert distinct_ids(index.find("nhập khẩu rồi làm passport")) == ["thuong-tru", "ho-chieu"]


def test_typos_resolve_fuzzily_but_unrelated_words_do_not():
    index = ProcedureIndex(PHRASES)
    assert index.resolve("ho chiue") == "ho-chieu"
    assert distinct_ids(index.find_fuzzy("giay phep lai xee bi mat")) == ["doi-gplx"]
    assert index.resolve("đăng ký xe máy") is None
    assert index.find_fuzzy("hôm nay trời đẹp") == []


def test_catalogue_aliases_cover_colloquial_names():
    index = default_index()
    cases = {"làm hc": "ho-chieu", "nhập khẩu cho con": "thuong-tru", "sổ hộ khẩu": "thuong-tru",
             "công chứng giấy tờ": "chung-thuc-ban-sao", "đổi bằng lái": "doi-gplx",
             "giấy xác nhận độc thân": "xac-nhan-hon-nhan", "lam cccd": "can-cuoc",
             "xin giay phep xay dung": "giay-phep-xay-dung", "lý lịch tư pháp": "ly-lich-tu-phap"}
    for text, expected in cases.items():
        assert distinct_ids(index.find(normalize(text))) == [expected], text


def test_training_examples_keep_entity_offsets_after_normalisation():
    text = "e mun lm hc thì cần j"
    entities = [{"entity": "procedure", "start": 9, "end": 11, "value": "hc"}]
    new_text, [entity] = normalize_example(text, entities)
    assert new_text == "em muốn làm hộ chiếu thì cần gì"
    assert new_text[entity["start"]:entity["end"]] == "hộ chiếu"
