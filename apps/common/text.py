"""What text a database can store."""


def text_unstorable(text: str) -> str | None:
    """Why `text` cannot be stored, or None.

    PostgreSQL text cannot hold NUL, and lone UTF-16 surrogates (valid in JSON escapes, and
    what is left of an emoji that JavaScript's `slice` cut in two) are not UTF-8.
    """
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired surrogate"
    return None
