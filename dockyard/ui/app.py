"""The web interface's HTTP side: routes, sessions, CSRF, security headers.

``ui_routes`` are served by the registry app next to the API: requests below ``ui.path``
(and ``/``, which redirects there) reach the interface; the API's never look at it.
Pages are rendered on the server by Jinja2 with autoescaping; the only script is a
small static file for the copy buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dockyard.api.errors import lookup
from dockyard.digest import Digest
from dockyard.errors import DockyardError
from dockyard.reference import is_valid_name, is_valid_tag
from dockyard.storage.protocols import Registry, Repository
from dockyard.ui import views
from dockyard.ui.access import AccessPolicy, Viewer
from dockyard.ui.session import (
    COOKIE_NAME,
    Session,
    SessionCodec,
    cookie_header,
    csrf_matches,
)

logger = logging.getLogger("dockyard.ui")

HERE: Final = Path(__file__).parent
#: No script, style, image or frame from anywhere but the interface itself.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_MAX_FORM: Final = 16 * 1024
#: Separates a repository name from what follows in interface paths (``/r/a/b/-/…``):
#: no name component can be ``-``.
_SEPARATOR: Final = "/-/"


@dataclass(frozen=True, slots=True)
class UISettings:
    """What the interface needs to know about its deployment."""

    path: str
    secret: bytes
    host: str | None
    delete_enabled: bool
    read_only: bool


class Page:
    """One request being answered: who asks, their session, and rendering helpers."""

    def __init__(self, ui: WebInterface, request: Request, session: Session) -> None:
        self.ui = ui
        self.request = request
        self.session = session
        self.viewer = Viewer(session.username)

    @property
    def base(self) -> str:
        """The interface's own path (with ``http.prefix``): where its routes are mounted."""
        return _mounted_at(self.request)

    def url(self, *parts: str, **query: Any) -> str:
        """A URL of the interface (path pieces quoted, empty query values dropped)."""
        path = self.base + "/" + "/".join(quote(p, safe="/:@") for p in parts if p)
        pairs = {k: v for k, v in query.items() if v not in (None, "")}
        return path + ("?" + urlencode(pairs) if pairs else "")

    def repo_url(self, name: str, *rest: str, **query: Any) -> str:
        tail = _SEPARATOR.strip("/") if rest else ""
        return self.url("r", name, tail, *rest, **query)

    def may(self, action: str, repository: str) -> bool:
        return self.ui.policy.may(self.viewer, action, repository)

    def may_delete(self, repository: str) -> bool:
        settings = self.ui.settings
        return settings.delete_enabled and not settings.read_only and self.may("delete", repository)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        body = self.ui.templates.get_template(template).render(
            page=self,
            views=views,
            viewer=self.viewer,
            csrf=self.session.csrf,
            may_status=self.ui.policy.may_list_catalog(self.viewer),
            sign_in_available=self.ui.policy.sign_in_available,
            **context,
        )
        return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)

    def error(self, status: int, title: str, message: str) -> Response:
        return self.render("error.html", status=status, title=title, message=message)


Handler = Callable[[Page], Awaitable[Response]]


class WebInterface:
    """The interface over one registry, its access policy and its settings."""

    def __init__(self, registry: Registry, policy: AccessPolicy, settings: UISettings) -> None:
        self.registry = registry
        self.policy = policy
        self.settings = settings
        self.codec = SessionCodec(settings.secret)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # --- sessions -------------------------------------------------------------------------

    async def session(self, request: Request) -> tuple[Session, bool]:
        """The request's valid session, or a fresh anonymous one (and whether it is new)."""
        session = self.codec.decode(request.cookies.get(COOKIE_NAME))
        if session is not None and session.username is not None:
            # A removed user, or a changed password, ends the user's sessions.
            current = await self.policy.fingerprint(session.username)
            if current is None or current != session.fingerprint:
                session = None
        if session is None:
            return self.codec.new(), True
        return session, False

    def set_cookie(self, response: Response, request: Request, session: Session) -> None:
        path = _mounted_at(request)
        response.headers.append(
            "Set-Cookie",
            cookie_header(
                self.codec.encode(session),
                path=path,
                secure=self.over_tls(request),
                max_age=self.codec.lifetime,
            ),
        )

    def over_tls(self, request: Request) -> bool:
        """Whether the browser reached the interface over TLS: served so, or through a
        proxy that says so. Only then is the cookie ``Secure`` (a browser would not send
        it back over plain HTTP)."""
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        return request.url.scheme == "https" or forwarded.lower() == "https"

    def wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session, fresh = await self.session(request)
            page = Page(self, request, session)
            try:
                response = await handler(page)
            except Exception as exc:
                response = _error_page(page, exc)
            if fresh and COOKIE_NAME not in response.headers.get("set-cookie", ""):
                self.set_cookie(response, request, session)
            for name, value in _SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return endpoint

    def routes(self) -> list[Route | Mount]:
        w = self.wrap
        return [
            Route("/", w(repositories), methods=["GET"]),
            Route("/sign-in", w(sign_in_form), methods=["GET"]),
            Route("/sign-in", w(sign_in), methods=["POST"]),
            Route("/sign-out", w(sign_out), methods=["POST"]),
            Route("/status", w(status), methods=["GET"]),
            Route("/r/{rest:path}", w(repository_route), methods=["GET", "POST"]),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ]


# --- helpers ------------------------------------------------------------------------------


def _mounted_at(request: Request) -> str:
    # Starlette's Mount extends ``root_path`` by the path it matched.
    return str(request.scope.get("root_path", ""))


def _error_page(page: Page, exc: Exception) -> Response:
    """An error as a page, with the status the API's error table gives it; an error the
    table does not know is a 500 that says nothing of it (the log has the traceback)."""
    row = lookup(exc) if isinstance(exc, DockyardError) else None
    if row is None or not isinstance(exc, DockyardError):
        logger.error("unexpected error in the web interface", exc_info=exc)
        return page.error(500, "Something went wrong", "The registry could not answer.")
    status = row[1]
    logger.info("web interface request failed (%d): %s", status, exc.message)
    title = "Not found" if status == 404 else "Cannot do that"
    return page.error(status, title, exc.message)


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=_SECURITY_HEADERS)


def _sign_in_redirect(page: Page) -> Response:
    target = page.request.url.path
    if page.request.url.query:
        target += "?" + page.request.url.query
    return _redirect(page.url("sign-in", next=target))


def _refused(page: Page) -> Response:
    """Not allowed: anonymous callers are asked to sign in; others see a 404 (so nothing
    tells them whether the repository exists)."""
    if not page.session.signed_in and page.ui.policy.sign_in_available:
        return _sign_in_redirect(page)
    return page.error(404, "Not found", "No such repository, or you may not see it.")


async def _form(page: Page) -> dict[str, str] | Response:
    """The posted form, once its CSRF token is checked (403 otherwise)."""
    request = page.request
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return page.error(400, "Bad request", "Expected a form.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            return page.error(413, "Too large", "The form is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return page.error(400, "Bad request", "The form could not be read.")
    values = dict(pairs)
    if not csrf_matches(page.session, values.get("csrf")):
        return page.error(
            403, "Form expired", "The form was not sent from this page; reload it and try again."
        )
    return values


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _safe_next(page: Page, target: str | None) -> str:
    """Only a path of the interface itself, never another site."""
    if target and target.startswith(page.base + "/") and not target.startswith("//"):
        return target
    return page.url("")


# --- pages --------------------------------------------------------------------------------


async def repositories(page: Page) -> Response:
    query = page.request.query_params.get("q", "")[:256]
    after = page.request.query_params.get("after") or None
    listing = await views.list_repositories(
        page.ui.registry, lambda name: page.may("pull", name), query, after
    )
    nothing_visible = not listing.rows and after is None and not query
    if nothing_visible and not page.session.signed_in and page.ui.policy.sign_in_available:
        return _sign_in_redirect(page)
    return page.render("repositories.html", listing=listing, query=query, after=after)


async def sign_in_form(page: Page) -> Response:
    return page.render(
        "sign_in.html",
        next=_safe_next(page, page.request.query_params.get("next")),
        failed=False,
        username="",
    )


async def sign_in(page: Page) -> Response:
    form = await _form(page)
    if isinstance(form, Response):
        return form
    target = _safe_next(page, form.get("next"))
    username = form.get("username", "")[:256]
    password = form.get("password", "")[:4096]
    fingerprint = (
        await page.ui.policy.sign_in(username, password)
        if page.ui.policy.sign_in_available and username
        else None
    )
    if fingerprint is None:
        logger.info("web interface sign-in failed for user %r", username)
        return page.render("sign_in.html", status=401, next=target, failed=True, username=username)
    logger.info("web interface sign-in of user %r", username)
    response = _redirect(target)
    page.ui.set_cookie(response, page.request, page.ui.codec.new(username, fingerprint))
    return response


async def sign_out(page: Page) -> Response:
    form = await _form(page)
    if isinstance(form, Response):
        return form
    response = _redirect(page.url(""))
    page.ui.set_cookie(response, page.request, page.ui.codec.new())
    return response


async def status(page: Page) -> Response:
    if not page.ui.policy.may_list_catalog(page.viewer):
        if not page.session.signed_in and page.ui.policy.sign_in_available:
            return _sign_in_redirect(page)
        return page.error(403, "Not allowed", "The status page needs access to the catalog.")
    state = await views.registry_status(page.ui.registry)
    return page.render("status.html", state=state)


async def repository_route(page: Page) -> Response:
    """``/r/<name>``, ``/r/<name>/-/m/<reference>``, ``/r/<name>/-/delete``."""
    rest: str = page.request.path_params["rest"]
    name, _, action = rest.partition(_SEPARATOR)
    name = name.strip("/")
    if not is_valid_name(name):
        return page.error(404, "Not found", "That is not a repository name.")
    if not page.may("pull", name):
        return _refused(page)
    repository = page.ui.registry.repository(name)
    method = page.request.method
    if action == "" and method == "GET":
        return await repository_page(page, repository)
    if action.startswith("m/") and method == "GET":
        return await manifest_page(page, repository, action[2:])
    if action == "delete":
        return await delete_page(page, repository)
    return page.error(404, "Not found", "No such page.")


async def repository_page(page: Page, repository: Repository) -> Response:
    if not await repository.exists():
        return page.error(404, "Not found", "No such repository, or you may not see it.")
    params = page.request.query_params
    tags = await views.tag_page(repository, params.get("sort", "name"), _int(params.get("page"), 1))
    host = views.registry_host(page.ui.settings.host, page.request.headers.get("host"))
    return page.render(
        "repository.html",
        name=repository.name,
        tags=tags,
        host=host,
        may_delete=page.may_delete(repository.name),
        deleted=_deleted_notice(params.get("deleted")),
    )


def _deleted_notice(text: str | None) -> str:
    """The ``deleted`` notice a deletion redirects with, if it is one (and not any text a
    link could make the page say)."""
    if text is None:
        return ""
    kind, _, what = text.partition(" ")
    digest = kind == "manifest" and isinstance(_reference(what), Digest)
    if (kind == "tag" and is_valid_tag(what)) or digest:
        return text
    return ""


def _reference(text: str) -> Digest | str | None:
    if ":" in text:
        try:
            return Digest.parse(text)
        except DockyardError:
            return None
    return text if is_valid_tag(text) else None


async def manifest_page(page: Page, repository: Repository, text: str) -> Response:
    reference = _reference(text)
    if reference is None:
        return page.error(404, "Not found", "That is neither a tag nor a digest.")
    digest = (
        reference if isinstance(reference, Digest) else await repository.tags.resolve(reference)
    )
    manifest = await repository.manifests.get(digest)
    view = await views.manifest_view(repository, manifest)
    host = views.registry_host(page.ui.settings.host, page.request.headers.get("host"))
    return page.render(
        "manifest.html",
        name=repository.name,
        reference=text,
        view=view,
        host=host,
        may_delete=page.may_delete(repository.name),
    )


async def delete_page(page: Page, repository: Repository) -> Response:
    if not page.may_delete(repository.name):
        if not page.ui.settings.delete_enabled:
            message = "Deleting is disabled on this registry (storage.delete.enabled)."
        elif page.ui.settings.read_only:
            message = "The registry is in read-only mode."
        else:
            message = "You may not delete in this repository."
        return page.error(403, "Not allowed", message)
    if page.request.method == "POST":
        form = await _form(page)
        if isinstance(form, Response):
            return form
        tag, digest_text = form.get("tag") or None, form.get("digest") or None
    else:
        params = page.request.query_params
        tag, digest_text = params.get("tag") or None, params.get("digest") or None
    if (tag is None) == (digest_text is None):
        return page.error(400, "Bad request", "Name either a tag or a digest to delete.")
    if tag is not None and not is_valid_tag(tag):
        return page.error(404, "Not found", "That is not a tag name.")
    digest = Digest.parse(digest_text) if digest_text is not None else None
    plan = await views.plan_deletion(repository, tag, digest)
    if page.request.method == "GET":
        return page.render("delete.html", name=repository.name, plan=plan)
    if plan.tag is not None:
        await repository.tags.untag(plan.tag)
        what = f"tag {plan.tag}"
    else:
        await repository.manifests.delete(plan.digest)
        what = f"manifest {plan.digest}"
    logger.info("web interface: %s deleted %s from %s", page.viewer.username, what, repository.name)
    return _redirect(page.repo_url(repository.name, deleted=what))


# --- mounting -----------------------------------------------------------------------------


def ui_routes(registry: Registry, policy: AccessPolicy, settings: UISettings) -> list[BaseRoute]:
    """The interface's routes: itself below ``settings.path``, and ``/`` redirecting there.

    The registry app serves them outside ``/v2`` (``create_app``'s ``extra_routes``), so
    API requests never pass through them.
    """
    ui = WebInterface(registry, policy, settings)

    async def to_interface(request: Request) -> Response:
        return RedirectResponse(request.scope.get("root_path", "") + settings.path + "/", 307)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return HTMLResponse("Not found", status_code=status, headers=_SECURITY_HEADERS)

    interface = Starlette(routes=ui.routes(), exception_handlers={HTTPException: not_found})
    return [
        Route("/", to_interface, methods=["GET", "HEAD"]),
        Route(settings.path, to_interface, methods=["GET", "HEAD"]),
        Mount(settings.path, app=interface),
    ]
