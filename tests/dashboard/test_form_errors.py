"""Pydantic's own refusals beside a dashboard field: the same English as pydantic, and the
reader's language when it is another."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import ErrorDetails

from app.dashboard.form_errors import field_message
from app.i18n import use_language


class Form(BaseModel):
    name: str = Field(min_length=2, max_length=5)
    seconds: int = Field(ge=0, le=60)
    count: int


def _errors(data: dict[str, object]) -> list[ErrorDetails]:
    with pytest.raises(ValidationError) as caught:
        Form.model_validate(data)
    return caught.value.errors()


@pytest.mark.parametrize(
    "data",
    [{"name": "x", "seconds": -1, "count": "many"}, {"name": "xxxxxx", "seconds": 61}],
)
def test_english_reads_as_pydantic_writes_it(data: dict[str, object]) -> None:
    for error in _errors(data):
        assert field_message(error) == error["msg"]


def test_russian_and_spanish() -> None:
    errors = {str(e["loc"][0]): e for e in _errors({"name": "xxxxxx", "seconds": 61})}
    with use_language("ru"):
        assert field_message(errors["name"]) == "Не длиннее 5 символов"
        assert field_message(errors["seconds"]) == "Должно быть не больше 60"
        assert field_message(errors["count"]) == "Обязательное поле"
    with use_language("es"):
        assert field_message(errors["name"]) == "Debe tener como máximo 5 caracteres"
        assert field_message(errors["count"]) == "Campo obligatorio"
