"""Proof documents (kaohe.lib.verify's formats) built from the database, for
`kaohe ledger proof`, receipts and the API. Callers decide who may see which entry."""

from kaohe.ledger import keys, tree
from kaohe.ledger.checkpoints import as_document, covering
from kaohe.ledger.models import Checkpoint, Entry
from kaohe.lib.verify import consistency_document, proof_document


def inclusion(index: int, checkpoint: Checkpoint | None = None) -> dict:
    """Entry `index` with its audit path up to `checkpoint` (by default the latest, made
    now if none covers the entry yet), the checkpoint and the public keys."""
    entry = Entry.objects.get(index=index)
    checkpoint = checkpoint or covering(index)
    if checkpoint.tree_size <= index:
        raise ValueError(f"checkpoint of size {checkpoint.tree_size} does not cover entry {index}")
    return proof_document(
        entry.body.encode(),
        index,
        checkpoint.tree_size,
        tree.inclusion_proof(index, checkpoint.tree_size),
        bytes.fromhex(checkpoint.root_hash),
        as_document(checkpoint),
        keys.public_keys().values(),
    )


def consistency(old: Checkpoint, new: Checkpoint) -> dict:
    """The proof that checkpoint `new` extends checkpoint `old`."""
    return consistency_document(
        as_document(old),
        as_document(new),
        tree.consistency_proof(old.tree_size, new.tree_size),
        keys.public_keys().values(),
    )


def checkpoint_of_size(tree_size: int) -> Checkpoint:
    """The latest checkpoint of exactly `tree_size` entries (Checkpoint.DoesNotExist if none)."""
    found = Checkpoint.objects.filter(tree_size=tree_size).order_by("-pk").first()
    if found is None:
        raise Checkpoint.DoesNotExist(f"no checkpoint of tree size {tree_size}")
    return found
