"""Production settings pass `manage.py check --deploy` with production-like values."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ("check", "--deploy", "--fail-level", "WARNING")


def _production_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "CSRF_")) and key not in {"DEBUG"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="cohort.example.com",
        CACHE_URL="redis://127.0.0.1:6379/0",
        EMAIL_URL="smtp+tls://cohort:secret@smtp.example.com:587",
        **extra,
    )
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean():
    result = _manage(_production_env(), *CHECK)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    del env["SECRET_KEY"]

    result = _manage(env, *CHECK)

    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr


def test_a_per_process_cache_is_a_deploy_warning():
    env = _production_env()
    del env["CACHE_URL"]

    result = _manage(env, *CHECK)

    assert result.returncode != 0
    assert "cohort.W001" in result.stderr


def test_mail_written_to_the_output_is_a_deploy_warning():
    env = _production_env()
    del env["EMAIL_URL"]

    result = _manage(env, *CHECK)

    assert result.returncode != 0
    assert "cohort.W002" in result.stderr


def test_production_refuses_to_seed_the_public_demo_login(tmp_path):
    env = _production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.pop("COHORT_DEMO_DATA", None)

    seeded = _manage(env, "seed_demo")

    assert seeded.returncode == 1
    assert "seed_demo is off here" in seeded.stderr
