"""How much of a step's output its log keeps: a byte budget per step, shared by the
processes of that step (a composite action's steps write to one log).

The cut falls just after a newline, so every kept line is whole and masked whole: a
secret straddling the cut is never shown in part. What comes after is counted, not
kept, and the step goes on running: killing it would turn a chatty step into a
failed one. At the step's end one line says where the log was cut.
"""

from __future__ import annotations

MIB = 1024 * 1024


class LogCap:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = 0
        self.dropped = 0

    @property
    def reached(self) -> bool:
        return self.dropped > 0

    def take(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` the log keeps; the rest is counted as dropped."""
        if self.reached:
            self.dropped += len(chunk)
            return b""
        room = self.limit - self.kept
        if len(chunk) <= room:
            self.kept += len(chunk)
            return chunk
        end = chunk.rfind(b"\n", 0, room) + 1  # 0 when no line ends within the room
        kept = chunk[:end]
        self.kept += len(kept)
        self.dropped += len(chunk) - len(kept)
        return kept

    def drop_held(self, held: int) -> None:
        """Bytes a reader held back (a line not yet ended) that will now never be shown."""
        self.kept -= held
        self.dropped += held

    def notice(self) -> str:
        return f"conveyor: log truncated at {size(self.limit)}; {self.dropped:,} bytes dropped"


def size(count: int) -> str:
    """``100.0 MB`` for the usual caps, exact bytes for small ones (tests, odd settings)."""
    return f"{count / MIB:.1f} MB" if count >= MIB else f"{count:,} bytes"
