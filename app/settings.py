"""Runtime configuration, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.database_url import DEFAULT_DATABASE_URL, normalise_database_url

__all__ = ["DEFAULT_DATABASE_URL", "Settings", "get_settings", "normalise_database_url"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    cors_origins: list[str] = Field(default=["*"], alias="NEWSCAT_CORS_ORIGINS")
    cache_max_age: int = Field(default=60, ge=0, alias="NEWSCAT_CACHE_MAX_AGE")
    log_level: str = Field(default="info", alias="NEWSCAT_LOG_LEVEL")
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, alias="NEWSCAT_SQLITE_BUSY_TIMEOUT_MS")
    result_cache_size: int = Field(default=2048, ge=0, alias="NEWSCAT_RESULT_CACHE_SIZE")
    # Set by `newscat serve`, whose server adds `X-Content-Type-Options` itself.
    server_sends_nosniff: bool = Field(default=False, alias="NEWSCAT_SERVER_SENDS_NOSNIFF")
    gzip_minimum_size: int = Field(default=1024, ge=0, alias="NEWSCAT_GZIP_MINIMUM_SIZE")
    # Worker threads that run requests' queries at once on SQLite (PostgreSQL keeps 40).
    sqlite_threads: int = Field(default=2, ge=1, alias="NEWSCAT_SQLITE_THREADS")

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # A comma-separated list is friendlier in a shell than JSON.
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
