"""Run the CLI the way a person does: in a real pseudo-terminal of a given width (and, for contrast, piped).

`in_terminal` returns everything the program wrote to the terminal, with colour codes and cursor movements
left in (`plain` strips them); `Terminal` keeps a program running so a test can act while it runs (`watch`).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\r")


def plain(text: str) -> str:
    """Terminal output without escape sequences and carriage returns."""
    return ANSI.sub("", text)


def cli_env(columns: int, **extra: str) -> dict[str, str]:
    """The environment of a person's shell: a colour terminal `columns` wide, none of our variables set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGTRACE_MCP_", "NO_COLOR", "FORCE_COLOR"))}
    env.update({"COLUMNS": str(columns), "LINES": "40", "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def command(*args: str) -> list[str]:
    """The argv of `agtrace-mcp ARGS` run from this checkout's Python."""
    return [sys.executable, "-m", "agtrace_mcp", *args]


class Terminal:
    """A program running with a pseudo-terminal as its stdin, stdout and stderr."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True)
        os.close(slave)
        self.output = ""

    def read(self, seconds: float) -> str:
        """Collect output for up to `seconds` (less when the program ends); returns all output so far."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], max(0.0, min(0.05, end - time.monotonic())))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the program closed the terminal
                    break
                if not chunk:
                    break
                self.output += chunk.decode("utf-8", "replace")
            elif self.proc.poll() is not None:
                break
        return self.output

    def wait_for(self, text: str, seconds: float) -> bool:
        """Read until `text` shows up (in the plain output) or `seconds` pass; True when it showed up."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if text in plain(self.read(0.05)):
                return True
            if self.proc.poll() is not None:
                return text in plain(self.read(0.2))
        return False

    def interrupt(self, seconds: float = 10) -> int:
        """Ctrl-C, as the terminal sends it; returns the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.finish(seconds)

    def finish(self, seconds: float = 60) -> int:
        """Wait for the program to end, reading what it writes; returns the exit code."""
        end = time.monotonic() + seconds
        while self.proc.poll() is None and time.monotonic() < end:
            self.read(0.1)
        self.read(0.2)
        if self.proc.poll() is None:
            # still running: keep where it is stuck (the CLI prints its threads' stacks on SIGUSR1)
            self.proc.send_signal(signal.SIGUSR1)
            self.read(1.0)
            self.proc.kill()
        code = self.proc.wait()
        os.close(self.master)
        return code


def in_terminal(args: list[str], columns: int = 80, timeout: float = 120, **env: str) -> tuple[int, str]:
    """Run `agtrace-mcp ARGS` in a terminal `columns` wide; (exit code, everything it wrote)."""
    term = Terminal(command(*args), cli_env(columns, **env))
    code = term.finish(timeout)
    return code, term.output


def piped(args: list[str], columns: int = 80, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `agtrace-mcp ARGS` with stdout and stderr going to pipes."""
    return subprocess.run(command(*args), env=cli_env(columns, **env), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
