"""email: subject and plain-text body of the SpamAssassin corpus's ham (non-spam) messages."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator, Mapping
from email import policy
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path, tar_members

HAM = re.compile(r"^package/data/(easy-ham-\d+|hard-ham-\d+)/([^/]+)\.txt$")


def message_text(raw: bytes) -> str | None:
    """``"Subject: ...\\n\\nbody"`` of one RFC 822 message; None when it has no plain-text body."""
    message = email.message_from_bytes(raw, policy=policy.default)
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return None
    try:
        body = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        body = payload.decode("latin-1")
    if not isinstance(body, str) or not body.strip():
        return None
    try:
        subject = str(message.get("Subject", "") or "").strip()
    except (LookupError, UnicodeError, ValueError):
        subject = ""
    return (f"Subject: {subject}\n\n" if subject else "") + body


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """One document per ham message. Id: ``spamassassin/<group>/<message file>``."""
    for name, data in tar_members(artifact_path(files, "spam-assassin"), lambda n: bool(HAM.match(n))):
        text = message_text(data)
        if text:
            group, message_id = HAM.match(name).groups()
            yield Doc(f"spamassassin/{group}/{message_id}", text, "spam-assassin")
