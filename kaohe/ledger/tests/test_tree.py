"""Roots and proofs from the stored subtrees: the published Certificate Transparency vectors
and the RFC 9162 reference (kaohe.lib's tests) at every size of a real log."""

import pytest

from kaohe.ledger import tree
from kaohe.ledger.bulk import append_many
from kaohe.ledger.models import Entry, Node
from kaohe.lib import merkle
from kaohe.lib.tests.test_merkle import (
    CONSISTENCY_PROOFS,
    INCLUSION_PROOFS,
    LEAVES,
    ROOTS,
    ref_mth,
    ref_path,
    ref_proof,
)

pytestmark = pytest.mark.django_db
SIZE = 70


def store_tree(leaves: list[bytes]) -> None:
    """Stores the nodes of a tree over raw leaves, as `append` would for entries."""
    builder = merkle.TreeBuilder()
    for leaf in leaves:
        nodes = builder.append(merkle.leaf_hash(leaf))
        Node.objects.bulk_create(Node(id=Node.key(*key), hash=h) for key, h in nodes)


@pytest.fixture
def bodies() -> list[bytes]:
    append_many(("test.tree", {"employee": f"E{n % 7}"}, "test", {"n": n}) for n in range(SIZE))
    return [body.encode() for body in Entry.objects.values_list("body", flat=True)]


def test_the_stored_vector_tree_gives_the_published_roots_and_proofs():
    store_tree(LEAVES)
    assert [tree.root(n).hex() for n in range(len(ROOTS))] == ROOTS
    for index, size, path in INCLUSION_PROOFS:
        assert [h.hex() for h in tree.inclusion_proof(index, size)] == path
    for old, new, proof in CONSISTENCY_PROOFS:
        assert [h.hex() for h in tree.consistency_proof(old, new)] == proof


def test_the_root_at_every_size_is_the_reference_root(bodies):
    assert tree.size() == SIZE
    for n in range(SIZE + 1):
        assert tree.root(n) == ref_mth(bodies[:n])


def test_every_inclusion_proof_is_the_reference_path_and_verifies(bodies):
    for size in (1, 2, 3, 7, 8, 9, 31, 32, 33, 64, SIZE):
        root = ref_mth(bodies[:size])
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == ref_path(index, bodies[:size])
            leaf = merkle.leaf_hash(bodies[index])
            assert merkle.verify_inclusion(leaf, index, size, proof, root)


def test_every_consistency_proof_is_the_reference_proof_and_verifies(bodies):
    for new in (1, 5, 8, 13, 32, 33, SIZE):
        for old in range(1, new + 1):
            proof = tree.consistency_proof(old, new)
            assert proof == ref_proof(old, bodies[:new])
            old_root, new_root = ref_mth(bodies[:old]), ref_mth(bodies[:new])
            assert merkle.verify_consistency(old, new, old_root, new_root, proof)


def test_a_root_or_proof_costs_one_query_whatever_the_size(bodies, django_assert_num_queries):
    for call in (
        lambda: tree.root(SIZE),
        lambda: tree.inclusion_proof(3, SIZE),
        lambda: tree.consistency_proof(11, SIZE),
    ):
        with django_assert_num_queries(1):
            call()


def test_a_missing_node_is_named(bodies):
    with pytest.raises(KeyError, match=r"\(9, 0\)"):
        tree.lookup([(6, 0), (9, 0)])  # 64 leaves make (6, 0); nothing makes (9, 0) yet
