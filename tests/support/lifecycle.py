"""One way for the test servers to be context managers: started on entry (and stopped
again if starting fails half-way), closed on exit."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Running:
    """Subclasses give ``start`` and ``stop``; ``close`` (on exit) is ``stop`` unless they
    have more to clean up, such as their temporary directory."""

    def start(self) -> None:
        """Nothing to start unless a subclass says so."""

    def stop(self) -> None:
        """Nothing to stop unless a subclass says so."""

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
