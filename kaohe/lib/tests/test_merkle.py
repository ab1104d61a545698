"""RFC 9162 Merkle hashing against published vectors and a brute-force reference."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaohe.lib import merkle
from kaohe.lib.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_plan,
    fold,
    inclusion_plan,
    leaf_hash,
    node_hash,
    resolve,
    subtrees,
    verify_consistency,
    verify_inclusion,
)

# The well-known 8-leaf Certificate Transparency vectors. Leaves, node hashes and roots from
# transparency-dev/merkle testonly/constants.go; the proofs from testonly/reference_test.go
# and google/certificate-transparency-go merkletree/merkle_verifier_test.go.
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
NODES = {
    (0, 0): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    (0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (0, 2): "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    (0, 3): "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    (0, 4): "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (0, 5): "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    (0, 6): "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    (0, 7): "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION_PROOFS = [  # (leaf_index, tree_size, audit path)
    (0, 1, []),
    (0, 2, [NODES[0, 1]]),
    (1, 2, [NODES[0, 0]]),
    (2, 3, [NODES[1, 0]]),
    (1, 5, [NODES[0, 0], NODES[1, 1], NODES[0, 4]]),
    (0, 8, [NODES[0, 1], NODES[1, 1], NODES[2, 1]]),
    (5, 8, [NODES[0, 4], NODES[1, 3], NODES[2, 0]]),
]
CONSISTENCY_PROOFS = [  # (old_size, new_size, proof)
    (1, 1, []),
    (1, 8, [NODES[0, 1], NODES[1, 1], NODES[2, 1]]),
    (6, 8, [NODES[1, 2], NODES[1, 3], NODES[2, 0]]),
    (2, 5, [NODES[1, 1], NODES[0, 4]]),
]


def hexes(hashes):
    return [h.hex() for h in hashes]


# -- the reference: RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1, written as the RFC writes them --


def ref_k(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d):
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = ref_k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m, d):
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_proof(m, d):
    return ref_subproof(m, d, True)


def ref_subproof(m, d, b):
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def entries(n):
    return [i.to_bytes(4, "big") * (i % 3) for i in range(n)]


def all_subtrees(d):
    """Every perfect subtree hash of the tree over d, by (level, index)."""
    table = {}
    level, hashes = 0, [leaf_hash(e) for e in d]
    while hashes:
        table.update({(level, i): h for i, h in enumerate(hashes)})
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes) - 1, 2)]
        level += 1
    return table


def lookup_in(table, calls=None):
    def lookup(keys):
        if calls is not None:
            calls.append(keys)
        return {k: table[k] for k in keys}

    return lookup


# -- published vectors --


def test_the_hashes_are_the_rfc_9162_ones():
    assert leaf_hash(b"") == bytes.fromhex(NODES[0, 0])
    assert node_hash(bytes.fromhex(NODES[0, 0]), bytes.fromhex(NODES[0, 1])) == bytes.fromhex(
        NODES[1, 0]
    )
    assert EMPTY_ROOT.hex() == ROOTS[0]


@pytest.mark.parametrize("size", range(9))
def test_the_builder_gives_the_published_root_of_every_size(size):
    builder = TreeBuilder()
    for entry in LEAVES[:size]:
        builder.append(leaf_hash(entry))
    assert builder.size == size
    assert builder.root().hex() == ROOTS[size]


def test_the_builder_completes_the_published_nodes():
    builder = TreeBuilder()
    stored = {}
    for entry in LEAVES:
        stored.update(builder.append(leaf_hash(entry)))
    assert {key: h.hex() for key, h in stored.items()} == NODES


@pytest.mark.parametrize("size", range(9))
def test_folding_the_stored_subtrees_gives_the_published_root(size):
    table = {key: bytes.fromhex(h) for key, h in NODES.items()}
    assert fold([table[key] for key in subtrees(0, size)]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_PROOFS)
def test_the_inclusion_plan_resolves_to_the_published_proof(index, size, path):
    table = {key: bytes.fromhex(h) for key, h in NODES.items()}
    assert hexes(resolve(inclusion_plan(index, size), lookup_in(table))) == path


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_PROOFS)
def test_the_published_inclusion_proofs_verify(index, size, path):
    proof = [bytes.fromhex(h) for h in path]
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, root)
    assert not verify_inclusion(leaf_hash(b"WrongLeaf"), index, size, proof, root)
    assert not verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, EMPTY_ROOT)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_PROOFS)
def test_the_consistency_plan_resolves_to_the_published_proof(old, new, path):
    table = {key: bytes.fromhex(h) for key, h in NODES.items()}
    assert hexes(resolve(consistency_plan(old, new), lookup_in(table))) == path


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_PROOFS)
def test_the_published_consistency_proofs_verify(old, new, path):
    proof = [bytes.fromhex(h) for h in path]
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)


# -- shapes and edges --


def test_subtrees_follow_the_binary_representation_of_the_size():
    assert subtrees(0, 0) == []
    assert subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert subtrees(8, 15) == [(2, 2), (1, 6), (0, 14)]


def test_subtrees_refuse_a_range_the_recursion_never_visits():
    with pytest.raises(ValueError, match="not a range"):
        subtrees(1, 4)
    with pytest.raises(ValueError):
        subtrees(5, 4)


def test_fold_of_nothing_is_the_empty_root():
    assert fold([]) == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 4), (5, 2)])
def test_an_inclusion_plan_outside_the_tree_is_refused(index, size):
    with pytest.raises(ValueError):
        inclusion_plan(index, size)


@pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 5), (-1, 3), (6, 5)])
def test_a_consistency_plan_from_nothing_or_backwards_is_refused(old, new):
    with pytest.raises(ValueError):
        consistency_plan(old, new)


def test_a_consistency_plan_between_equal_sizes_is_empty():
    assert consistency_plan(7, 7) == []


def test_resolve_looks_up_every_node_in_one_call():
    table = all_subtrees(entries(1000))
    calls = []
    resolve(inclusion_plan(777, 1000), lookup_in(table, calls))
    assert len(calls) == 1
    assert len(calls[0]) == len(set(calls[0]))


def test_resolve_names_a_missing_node():
    with pytest.raises(KeyError, match=r"\(0, 1\)"):
        resolve([[(0, 1)]], lambda keys: {})


def test_resolve_skips_the_lookup_for_an_empty_plan():
    assert resolve([], lambda keys: pytest.fail("looked up nothing")) == []


def test_verify_never_raises_on_odd_input():
    assert not verify_inclusion(b"", 0, 0, [], b"")
    assert not verify_inclusion(b"", -5, 3, [b"", b""], b"")
    assert not verify_inclusion(b"x" * 32, 0, 1, [b"y"], b"x" * 32)
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 3, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(3, 1, b"", b"", [b""])
    assert not verify_consistency(1, 2, b"", b"", [])
    assert verify_consistency(4, 4, b"r", b"r", [])
    assert not verify_consistency(4, 4, b"r", b"s", [])
    assert not verify_consistency(4, 4, b"r", b"r", [b"r"])


def test_a_builder_resumed_from_its_edge_continues_the_same_tree():
    d = entries(100)
    first = TreeBuilder()
    first.extend(leaf_hash(e) for e in d[:37])
    resumed = TreeBuilder.resume(37, first.edge())
    resumed.extend(leaf_hash(e) for e in d[37:])
    assert resumed.root() == ref_mth(d)
    with pytest.raises(ValueError):
        TreeBuilder.resume(37, first.edge()[:-1])


# -- against the reference, over many sizes --

sizes = st.integers(min_value=1, max_value=300)
cases = settings(max_examples=150, deadline=None)


@cases
@given(sizes)
def test_the_root_equals_the_reference(n):
    d = entries(n)
    table = all_subtrees(d)
    assert fold([table[key] for key in subtrees(0, n)]) == ref_mth(d)
    builder = TreeBuilder()
    builder.extend(leaf_hash(e) for e in d)
    assert builder.root() == ref_mth(d)


def test_the_builder_matches_the_reference_at_every_prefix():
    d = entries(300)
    table = all_subtrees(d)
    builder, fast = TreeBuilder(), TreeBuilder()
    stored = {}
    for i, e in enumerate(d):
        nodes = builder.append(leaf_hash(e))
        fast.append_only(leaf_hash(e))
        assert nodes[0] == ((0, i), leaf_hash(e))
        stored.update(nodes)
        assert builder.root() == fast.root() == ref_mth(d[: i + 1])
        assert builder.edge() == [table[key] for key in subtrees(0, i + 1)]
    assert stored == table


@cases
@given(st.data())
def test_inclusion_proofs_equal_the_reference_and_verify(data):
    n = data.draw(sizes)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    d = entries(n)
    root, leaf = ref_mth(d), leaf_hash(d[m])
    proof = resolve(inclusion_plan(m, n), lookup_in(all_subtrees(d)))
    assert proof == ref_path(m, d)
    assert verify_inclusion(leaf, m, n, proof, root)
    for bad in mutated_paths(proof, root):
        assert not verify_inclusion(leaf, m, n, bad, root)
    assert not verify_inclusion(flip(leaf), m, n, proof, root)
    assert not verify_inclusion(leaf, m, n, proof, flip(root))
    for other in {m - 1, m + 1, m ^ 2, m ^ 1} - {m}:
        if 0 <= other < n and d[other] != d[m]:
            assert not verify_inclusion(leaf, other, n, proof, root)
    for other in {n * 2, n // 2, n + 1, n - 1} - {n}:
        # RFC 9162 hashes do not bind the size (the signed checkpoint does): a path of the
        # same shape can fit a neighbouring size, so only a different shape must fail.
        if m >= other or len(inclusion_plan(m, other)) != len(proof):
            assert not verify_inclusion(leaf, m, other, proof, root)


@cases
@given(st.data())
def test_consistency_proofs_equal_the_reference_and_verify(data):
    n = data.draw(sizes)
    m = data.draw(st.integers(min_value=1, max_value=n))
    d = entries(n)
    old_root, new_root = ref_mth(d[:m]), ref_mth(d)
    proof = resolve(consistency_plan(m, n), lookup_in(all_subtrees(d)))
    assert proof == ref_proof(m, d)
    assert verify_consistency(m, n, old_root, new_root, proof)
    for bad in mutated_paths(proof, old_root):
        assert not verify_consistency(m, n, old_root, new_root, bad)
    assert not verify_consistency(m, n, flip(old_root), new_root, proof)
    assert not verify_consistency(m, n, old_root, flip(new_root), proof)
    if m < n:
        assert not verify_consistency(m, n, new_root, old_root, proof)
        for other in {m - 1, m + 1, m ^ 2} - {m}:
            assert not verify_consistency(other, n, old_root, new_root, proof)
        for other in {n * 2, n + 1, n - 1} - {n}:
            if other <= m or len(consistency_plan(m, other)) != len(proof):
                assert not verify_consistency(m, other, old_root, new_root, proof)


def flip(h, bit=0):
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def mutated_paths(proof, root):
    """Each element with a bit flipped, the path truncated, extended at either end."""
    for i in range(len(proof)):
        yield [*proof[:i], flip(proof[i], i % 8), *proof[i + 1 :]]
    if proof:
        yield proof[:-1]
        yield proof[1:]
    yield [*proof, root]
    yield [*proof, b""]
    yield [b"", *proof]
    yield [root, *proof]


def test_module_exports_what_the_ledger_app_uses():
    for name in ("subtrees", "fold", "inclusion_plan", "consistency_plan", "resolve"):
        assert name in merkle.__all__


@pytest.mark.parametrize("start", [0, 1, 2, 5, 8, 13])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 64, 101])
def test_extend_entries_equals_leaf_by_leaf_from_any_start(start, count):
    d = entries(start + count)
    builder = TreeBuilder()
    builder.extend(leaf_hash(e) for e in d[:start])
    leaves = builder.extend_entries(iter(d[start:]))
    assert leaves == [leaf_hash(e) for e in d[start:]]
    assert builder.size == start + count
    assert builder.root() == ref_mth(d)


@pytest.mark.parametrize("bad_at", [0, 1, 2, 5])
def test_a_failed_extend_leaves_the_builder_as_it_was(bad_at):
    d = entries(11)
    builder = TreeBuilder()
    builder.extend_entries(d[:5])
    before = (builder.size, builder.edge())
    batch = [*d[5:], "not bytes"]
    batch.insert(bad_at, batch.pop())
    with pytest.raises(TypeError):
        builder.extend_entries(batch)
    assert (builder.size, builder.edge()) == before
    with pytest.raises(TypeError):
        builder.extend([leaf_hash(d[5]), leaf_hash(d[6]), None])  # leaf 7 has to merge
    assert (builder.size, builder.edge()) == before


def test_runs_built_apart_join_into_the_same_tree():
    d = entries(1000)
    whole = TreeBuilder()
    for lo in range(0, 1000, 256):
        run = TreeBuilder()
        run.extend_entries(d[lo : lo + 256])
        if run.size == 256:
            whole.push_subtree(8, run.root())
        else:
            whole.absorb(run)
    assert whole.size == 1000
    assert whole.root() == ref_mth(d)


def test_a_subtree_is_refused_where_it_would_not_be_aligned():
    builder = TreeBuilder()
    builder.extend_entries(entries(3))
    with pytest.raises(ValueError, match="cannot start at leaf 3"):
        builder.push_subtree(1, EMPTY_ROOT)
    other = TreeBuilder()
    other.extend_entries(entries(2))
    with pytest.raises(ValueError):
        builder.absorb(other)
