from bot.vntext import fold, normalize, strip_diacritics


def test_teencode_is_expanded_and_diacritics_kept():
    assert normalize("e mun lm hc thì cần j") == "em muốn làm hộ chiếu thì cần gì"
    assert normalize("đki tạm trú ở đâu v") == "đăng ký tạm trú ở đâu vậy"
    assert normalize("Ko bít nộp CCCD ở đâu") == "không biết nộp căn cước công dân ở đâu"


def test_tone_placement_and_unicode_forms_are_unified():
    decomposed = "ho\u0300a"  # "hoà" written with a combining grave accent
    assert normalize(decomposed) == normalize("hòa") == "hòa"
    assert normalize("thuỷ") == "thủy"
    assert normalize("  nhiều   khoảng\ttrắng ") == "nhiều khoảng trắng"


def test_fold_strips_diacritics_and_keeps_length():
    assert fold("Hộ  Chiếu ĐÀ NẴNG") == "ho chieu da nang"
    text = "Đăng ký thường trú cho con"
    assert len(strip_diacritics(text)) == len(text)
    assert strip_diacritics(text) == "Dang ky thuong tru cho con"


def test_abbreviations_only_replace_whole_words():
    assert normalize("mẫu ct01") == "mẫu ct01"
    assert normalize("khách sạn") == "khách sạn"
