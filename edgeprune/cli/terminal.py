"""The two consoles every verb prints to: results on stdout, progress and errors on stderr.

A leaf module, so that a verb imports its console without importing the command group (which
imports every verb).
"""

from __future__ import annotations

from rich.console import Console

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)
