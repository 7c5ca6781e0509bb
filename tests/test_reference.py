"""Repository names, tags and references follow the OCI distribution-spec grammar."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import DigestInvalid, NameInvalid, TagInvalid
from dockyard.reference import (
    Reference,
    is_valid_name,
    is_valid_tag,
    validate_name,
    validate_tag,
)

SPEC_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
SPEC_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")

components = st.from_regex(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*", fullmatch=True)
names = st.lists(components, min_size=1, max_size=5).map("/".join)


@given(names)
def test_names_of_the_grammar_are_accepted(name: str) -> None:
    assert is_valid_name(name) == (len(name) <= 255)


@given(st.text(max_size=300))
def test_name_validity_equals_the_spec_grammar(name: str) -> None:
    expected = len(name) <= 255 and SPEC_NAME.fullmatch(name) is not None
    assert is_valid_name(name) == expected


@given(st.text(max_size=140))
def test_tag_validity_equals_the_spec_grammar(tag: str) -> None:
    assert is_valid_tag(tag) == (SPEC_TAG.fullmatch(tag) is not None)


@pytest.mark.parametrize(
    "name",
    ["", "UPPER", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", "a/../b", "a b", "é"],
)
def test_validate_name_rejects_malformed_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


def test_validate_name_rejects_names_over_255_characters() -> None:
    with pytest.raises(NameInvalid):
        validate_name("a" * 256)


def test_validate_name_accepts_255_characters() -> None:
    assert validate_name("a" * 255) == "a" * 255


@pytest.mark.parametrize("name", ["library/ubuntu", "a.b_c__d---e/f", "0/1/2"])
def test_validate_name_accepts_spec_examples(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("tag", ["", ".hidden", "-dash", "a" * 129, "a/b", "a:b", "a+b"])
def test_validate_tag_rejects_malformed_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)


@pytest.mark.parametrize("tag", ["latest", "_underscore", "v1.2.3-rc.1", "A" * 128])
def test_validate_tag_accepts_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


def test_reference_parses_a_tag() -> None:
    reference = Reference.parse("v1")
    assert (reference.tag, reference.digest) == ("v1", None)


def test_reference_parses_a_digest() -> None:
    reference = Reference.parse("sha256:" + "0" * 64)
    assert reference.tag is None
    assert str(reference) == "sha256:" + "0" * 64


def test_reference_with_colon_must_be_a_valid_digest() -> None:
    with pytest.raises(DigestInvalid):
        Reference.parse("sha256:short")
