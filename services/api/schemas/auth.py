"""Login: the bearer token, who am I, a new password."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    username: str
    role: str


class Me(BaseModel):
    username: str
    role: str
    demo: bool


class NewPassword(BaseModel):
    current: SecretStr = Field(max_length=1024)
    new: SecretStr = Field(max_length=1024)
