"""Dossier life cycle: states, Vietnamese labels, what happens next, allowed transitions.

Main line: nhap → da_nop → da_tiep_nhan → dang_xu_ly → co_ket_qua → da_tra_ket_qua.
A dossier may go to can_bo_sung (with a note saying what is missing) from da_nop,
da_tiep_nhan or dang_xu_ly, and back to da_tiep_nhan / dang_xu_ly once completed;
tu_choi (with a reason) and da_huy end it. The full table is ``TRANSITIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["State", "STATES", "TRANSITIONS", "NOTE_REQUIRED", "InvalidTransition",
           "check_transition", "label", "next_steps", "is_final"]


@dataclass(frozen=True)
class State:
    id: str
    label: str        # short Vietnamese label for status messages
    next_steps: str   # what happens next, told to the citizen


STATES: dict[str, State] = {s.id: s for s in (
    State("nhap", "Nháp",
          "Hồ sơ đang ở dạng nháp, chưa gửi đi. Bạn kiểm tra lại thông tin rồi xác nhận nộp."),
    State("da_nop", "Đã nộp",
          "Hồ sơ đã được gửi và đang chờ cơ quan có thẩm quyền kiểm tra, tiếp nhận."),
    State("da_tiep_nhan", "Đã tiếp nhận",
          "Cơ quan đã tiếp nhận hồ sơ; thời hạn giải quyết được tính từ ngày tiếp nhận."),
    State("dang_xu_ly", "Đang xử lý",
          "Cán bộ đang giải quyết hồ sơ. Bạn sẽ được báo khi có kết quả hoặc khi cần bổ sung."),
    State("can_bo_sung", "Cần bổ sung",
          "Hồ sơ còn thiếu giấy tờ hoặc thông tin (xem ghi chú). Bạn bổ sung theo hướng dẫn để hồ sơ "
          "được xử lý tiếp."),
    State("co_ket_qua", "Có kết quả",
          "Đã có kết quả. Bạn mang giấy hẹn và giấy tờ tùy thân đến nhận, hoặc chờ bưu điện giao nếu "
          "đã đăng ký nhận tại nhà."),
    State("da_tra_ket_qua", "Đã trả kết quả", "Hồ sơ đã hoàn tất. Cảm ơn bạn!"),
    State("tu_choi", "Bị từ chối",
          "Hồ sơ không được giải quyết vì lý do ghi ở dưới. Bạn có thể hỏi mình cách chuẩn bị lại hồ sơ."),
    State("da_huy", "Đã hủy", "Hồ sơ đã được hủy và không được xử lý tiếp."),
)}

TRANSITIONS: dict[str, frozenset[str]] = {
    "nhap": frozenset({"da_nop", "da_huy"}),
    "da_nop": frozenset({"da_tiep_nhan", "can_bo_sung", "tu_choi", "da_huy"}),
    "da_tiep_nhan": frozenset({"dang_xu_ly", "can_bo_sung", "tu_choi", "da_huy"}),
    "dang_xu_ly": frozenset({"can_bo_sung", "co_ket_qua", "tu_choi"}),
    "can_bo_sung": frozenset({"da_tiep_nhan", "dang_xu_ly", "tu_choi", "da_huy"}),
    "co_ket_qua": frozenset({"da_tra_ket_qua"}),
    "da_tra_ket_qua": frozenset(),
    "tu_choi": frozenset(),
    "da_huy": frozenset(),
}

# Transitions into these states must carry a note: what is missing / why it was refused.
NOTE_REQUIRED = {
    "can_bo_sung": "cần ghi rõ giấy tờ hoặc thông tin còn thiếu",
    "tu_choi": "cần ghi rõ lý do từ chối",
}


class InvalidTransition(ValueError):
    """A state change the life cycle does not allow (message in Vietnamese)."""


def label(state: str) -> str:
    return STATES[state].label


def next_steps(state: str) -> str:
    return STATES[state].next_steps


def is_final(state: str) -> bool:
    return not TRANSITIONS[state]


def check_transition(from_state: str, to_state: str, note: str | None = None) -> None:
    """Raise :class:`InvalidTransition` unless ``from_state → to_state`` is allowed with this note."""
    for s in (from_state, to_state):
        if s not in STATES:
            raise InvalidTransition(f"Trạng thái không tồn tại: {s!r}.")
    if to_state not in TRANSITIONS[from_state]:
        allowed = ", ".join(label(s) for s in sorted(TRANSITIONS[from_state])) or "không có"
        raise InvalidTransition(
            f"Không thể chuyển hồ sơ từ “{label(from_state)}” sang “{label(to_state)}”. "
            f"Từ “{label(from_state)}” chỉ có thể chuyển sang: {allowed}.")
    if to_state in NOTE_REQUIRED and not (note or "").strip():
        raise InvalidTransition(f"Chuyển sang “{label(to_state)}” {NOTE_REQUIRED[to_state]}.")
