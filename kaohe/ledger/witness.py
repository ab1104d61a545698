"""The signer's own copy of the latest checkpoint it made, kept beside the key file.

Someone who can write the database but not the key's directory can delete the newest
checkpoints, rewrite or cut the entries made after the one before them, and wait: the
scheduler then signs the altered log, chained correctly to the newest checkpoint still
stored, and the stored checkpoints agree with each other again. The copy remembers what
was signed: `kaohe ledger verify` holds the log to it as to a receipt kept outside
(kaohe.ledger.anchors: the log must still reach its size and give its root there, and it
must still be stored), and it only moves on to a checkpoint that extends it. After a
deliberate replacement of the database (a restored backup, a new installation) verify
names the file to move aside.

The file is a signed checkpoint document, as `kaohe verify` reads one. It is written after
the checkpoint's transaction commits, under a lock, by replacing it whole.
"""

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings

from kaohe.ledger import tree
from kaohe.ledger.models import Checkpoint

logger = logging.getLogger(__name__)

NAME = "last-checkpoint.json"


def path() -> Path:
    return Path(settings.LEDGER_KEY_FILE).parent / NAME


def remember(checkpoint: Checkpoint) -> None:
    """Keeps `checkpoint` (committed) as the latest one signed here when it extends the one
    kept so far; a checkpoint that does not is logged as an error and the old copy stays."""
    from kaohe.ledger.checkpoints import as_document

    document = as_document(checkpoint)
    document.pop("timestamp", None)  # the signed checkpoint alone
    with _locked():
        kept = _read()
        if kept is not None:
            reason = _not_extending(kept, document)
            if reason is None and kept["tree_size"] == document["tree_size"]:
                return  # the same tree: the copy stays as it is
            if reason is not None:
                logger.error("ledger: checkpoint %s is not kept in %s: %s; run `kaohe ledger "
                             "verify`", checkpoint.pk, path(), reason)  # fmt: skip
                return
        _write(document)


def _not_extending(kept: dict, new: dict) -> str | None:
    """Why checkpoint `new` does not extend checkpoint `kept` (both signed documents), or
    None. The root at the kept size is folded from the stored nodes, which the new
    checkpoint's own root was folded from."""
    if not kept:
        return "the copy kept so far cannot be read"
    if kept.get("log_id") != new["log_id"]:
        return f"the one kept is of log {kept.get('log_id')}, this one of log {new['log_id']}"
    size = kept.get("tree_size")
    if not isinstance(size, int) or size > new["tree_size"]:
        return f"the one kept covers {size} entries, this one {new['tree_size']}"
    try:
        root = tree.root(size).hex()
    except KeyError:
        return f"the log's root at the kept size {size} cannot be computed"
    if root != kept.get("root_hash"):
        return f"the log's root at the kept size {size} is no longer the one signed"
    return None


def _read() -> dict | None:
    try:
        document = json.loads(path().read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.error("ledger: %s cannot be read; it is left as it is", path())
        return {}
    return document if isinstance(document, dict) else {}


def _write(document: dict) -> None:
    target = path()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".new-checkpoint-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, ensure_ascii=False, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked():
    lock = path().with_suffix(".lock")
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
