"""Who may see the pages of a server started with a token: a browser cannot send
`Authorization: Bearer`, so a person types the token once into a form, and the server answers
with a cookie that the pages' requests carry from then on.

The cookie holds a keyed hash of the token, not the token; it is HttpOnly (no script reads it)
and SameSite=Strict (a page elsewhere cannot make the browser send it).

    >>> cookie_value("s3cret") == cookie_value("s3cret") != cookie_value("other")
    True
"""

from __future__ import annotations

import hashlib
import hmac
import html
from urllib.parse import parse_qs

COOKIE = "cnnlab_token"
_NOT_PAGES = ("/v1/", "/api/", "/healthz", "/readyz")


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"cnnlab pages", hashlib.sha256).hexdigest()


def has_cookie(headers: dict, token: str) -> bool:
    """Whether the request's cookie is the one this token's login gave."""
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and hmac.compare_digest(value.encode(), cookie_value(token).encode()):
            return True
    return False


def is_page(path: str) -> bool:
    """A page a person opens (answered with the login form), not a route for programs."""
    return not path.startswith(_NOT_PAGES)


def is_open(path: str) -> bool:
    """What anyone may fetch: the login form and the pages' own script and style (no data)."""
    return path == "/login" or path.startswith("/static/")


def login_form(next_path: str, *, wrong: bool = False, status: int = 401):
    from cnnlab.serving.pages import page

    said = "<p class='problem' role='alert'>That is not this server's token.</p>" if wrong else ""
    body = (
        "<div class='login'><h1>This server needs its token</h1>"
        "<p>It was started with <code>--token</code>; type that token.</p>"
        f"{said}<form method='post' action='/login'><input type='hidden' name='next' value='{html.escape(next_path)}'>"
        "<input type='password' name='token' autocomplete='current-password' aria-label='token' autofocus required>"
        "<button type='submit'>log in</button></form></div>"
    )
    return page("cnnlab: log in", body, status=status)


def safe_next(path: str) -> str:
    r"""Where to go after logging in: a path on this server only. Browsers drop tabs and line
    breaks from an address and read a backslash as a slash, so `/\t/elsewhere` would be
    `//elsewhere`, another site: any of those gives `/`.

        >>> safe_next("/runs/a@1?x=2"), safe_next("//evil.example"), safe_next("/\t/evil.example")
        ('/runs/a@1?x=2', '/', '/')
    """
    plain = path.isprintable() and not any(character.isspace() or character == "\\" for character in path)
    return path if plain and path.startswith("/") and not path.startswith("//") else "/"


async def login(request, token: str | None):
    """GET: the form. POST: the token checked; right, a cookie and back to the page asked for."""
    from starlette.responses import RedirectResponse

    if request.method == "GET":
        return login_form(safe_next(request.query_params.get("next", "/")), status=200)
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    given, next_path = fields.get("token", [""])[0], safe_next(fields.get("next", ["/"])[0])
    if token is None:
        return RedirectResponse(next_path, status_code=303)
    if not hmac.compare_digest(given.encode(), token.encode()):
        return login_form(next_path, wrong=True)
    answer = RedirectResponse(next_path, status_code=303)
    answer.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="strict", path="/")
    return answer
