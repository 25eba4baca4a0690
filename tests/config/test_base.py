"""Config models of one class with the same fields set share one set, in any order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config.base import ConfigModel


class _Entry(ConfigModel):
    a: int = 0
    b: int = 0
    c: int = 0


class _Other(ConfigModel):
    a: int = 0
    b: int = 0


@settings(max_examples=100, deadline=None)
@given(entries=st.lists(st.tuples(st.booleans(), st.sets(st.sampled_from("abc"))),
                        max_size=12))
def test_models_with_equal_fields_sets_share_one(entries: list[tuple[bool, set[str]]]) -> None:
    """Runs of one set, sets alternating, two classes interleaved: each model keeps the
    fields it was given, and equal sets of one class are one object (other classes'
    never)."""
    models: list[ConfigModel] = []
    for other, names in entries:
        cls: type[ConfigModel] = _Other if other else _Entry
        data = {name: 1 for name in names if name in cls.model_fields}
        model = cls.model_validate(data)
        assert model.model_fields_set == set(data)
        models.append(model)
    for first in models:
        for second in models:
            same = (type(first) is type(second)
                    and first.model_fields_set == second.model_fields_set)
            assert (first.__pydantic_fields_set__ is second.__pydantic_fields_set__) == same
