"""Hypothesis strategies shared by the fuzz tests: byte-level mutations of seed inputs (the
corpus), arbitrary JSON values, and JSON documents mutated at any depth."""
from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent / "corpus"


def corpus(kind: str) -> list[bytes]:
    files = sorted((CORPUS / kind).iterdir())
    assert files, f"no seed inputs in {CORPUS / kind}"
    return [f.read_bytes() for f in files]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed with a few byte flips, insertions, deletions, truncations or splices."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice", "repeat"]))
        at = draw(st.integers(0, max(0, len(data))))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            data[at:] = other[draw(st.integers(0, len(other))):]
        elif op == "repeat" and data:
            data[at:at] = data[at:at + draw(st.integers(1, 32))] * draw(st.integers(1, 4))
    return bytes(data)


def inputs(seeds: list[bytes]):
    """Mutated seeds, and arbitrary bytes now and then."""
    return st.one_of(mutated(seeds), mutated(seeds), st.binary(max_size=512))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25)


@st.composite
def mutated_json(draw, document):
    """`document` (parsed JSON) with values replaced, keys removed or added, at any depth."""
    import copy

    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 4))):
        node, path = doc, []
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
            path.append((node, key))
            node = node[key]
        if not path:
            if isinstance(doc, dict):
                doc[draw(st.text(max_size=10))] = draw(json_values)
            continue
        parent, key = path[-1]
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if op == "replace":
            parent[key] = draw(json_values)
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(json_values)
        else:
            parent.insert(key, draw(json_values))
    return doc
