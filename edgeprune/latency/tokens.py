"""Device server tokens: where they come from and what counts as one.

The server runs any model it is sent, so its token must be hard to guess: at least 16
printable characters without spaces. It comes from a file (`--token-file`), the environment
(EDGEPRUNE_SERVER_TOKEN) or, with a warning because `ps` shows it, the command line; with none of
these, the server makes one on first start, stores it in the user's config folder (0600) and
prints it once.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError

TOKEN_ENV = "EDGEPRUNE_SERVER_TOKEN"
OLD_TOKEN_ENV = "EDGEPRUNE_AGENT_TOKEN"  # the last release's name: read with a warning
CONFIG_ENV = "EDGEPRUNE_CONFIG_DIR"
MIN_TOKEN_LENGTH = 16
GENERATED_TOKEN_FILE = "server-token"
OLD_GENERATED_TOKEN_FILE = "agent-token"  # made by the last release: still used if present


def config_dir() -> Path:
    """$EDGEPRUNE_CONFIG_DIR, else $XDG_CONFIG_HOME/edgeprune, else ~/.config/edgeprune."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "edgeprune"


def check_token(token: str, source: str) -> str:
    """`token` if it is strong enough for a server, else an error naming its `source`."""
    if len(token) < MIN_TOKEN_LENGTH or not token.isprintable() or \
            any(c.isspace() for c in token):
        raise EdgepruneError(f"{source}: the token must be at least {MIN_TOKEN_LENGTH} printable "
                             f"characters without spaces (it got {len(token)}); make one with "
                             f"`python -c 'import secrets; print(secrets.token_urlsafe(24))'`")
    return token


def read_token_file(path: str | Path) -> str:
    """The token in `path`: its first line, surrounding whitespace removed."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EdgepruneError(f"{path}: cannot read the token file "
                             f"({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise EdgepruneError(f"{path}: the token file is not text") from None
    lines = text.strip().splitlines()
    if not lines:
        raise EdgepruneError(f"{path}: the token file is empty")
    return lines[0].strip()


def client_token(token: str | None = None, token_file: str | Path | None = None) -> str | None:
    """What a client sends: the given token, else the token file's, else the environment's."""
    if token:
        return token
    if token_file:
        return read_token_file(token_file)
    return env_token()


def env_token() -> str | None:
    """$EDGEPRUNE_SERVER_TOKEN, else $EDGEPRUNE_AGENT_TOKEN (its old name, with a warning)."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    if os.environ.get(OLD_TOKEN_ENV):
        from edgeprune.deprecation import warn_deprecated

        warn_deprecated(f"the environment variable {OLD_TOKEN_ENV}", TOKEN_ENV)
        return os.environ[OLD_TOKEN_ENV]
    return None


def generated_token(path: Path | None = None) -> tuple[str, bool]:
    """The token stored at `path` (default: the config folder's server-token, or the
    agent-token an older release made there), made and written (0600) when there is none yet;
    returns (token, whether it was made now)."""
    path = path or generated_token_path()
    if path.exists():
        return check_token(read_token_file(path), str(path)), False
    token = secrets.token_urlsafe(24)
    atomic_write_text(path, token + "\n", private=True)
    return token, True


def generated_token_path() -> Path:
    """The config folder's server-token, or the agent-token an older release made there
    (clients already hold that one)."""
    path = config_dir() / GENERATED_TOKEN_FILE
    old = config_dir() / OLD_GENERATED_TOKEN_FILE
    return old if not path.exists() and old.exists() else path
