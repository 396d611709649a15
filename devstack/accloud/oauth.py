"""OAuth 2 for Alexa account linking: the authorization-code grant (login form, single-use codes,
optional PKCE S256, rotating refresh tokens, RFC 7009 revocation), and the client side of the same
flow that the stack and tests use to link a user the way Alexa does."""

from __future__ import annotations

import base64
import html
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, quote_plus, unquote_plus, urlencode, urlsplit

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from devstack.accloud.state import (
    DEFAULT_SCOPE,
    PKCE_VALUE,
    SCOPES,
    pkce_s256,
    redirect_uri_allowed,
    with_query,
)
from devstack.accloud.web import ApiError, Endpoints, html_response, invalid_client, json_response

FORM = "application/x-www-form-urlencoded"

ROUTES = (
    Rule("/oauth/authorize", endpoint="authorize", methods=["GET", "POST"]),
    Rule("/oauth/token", endpoint="token", methods=["POST"]),
    Rule("/oauth/revoke", endpoint="revoke", methods=["POST"]),
)

_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ACCloud sign-in</title></head>
<body><h1>Sign in to ACCloud</h1><p>Local reference server: link your ZOSI account.</p>
{error}<form method="post" action="/oauth/authorize">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
{hidden}<button type="submit">Sign in</button></form></body></html>"""

_AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge",
                     "code_challenge_method")  # fmt: skip


class OAuthEndpoints(Endpoints):
    """/oauth/authorize, /oauth/token and /oauth/revoke."""

    def _authorize_params(self, request: Request) -> dict[str, str]:
        params = {k: request.args[k] for k in _AUTHORIZE_PARAMS if k in request.args}
        if request.method == "POST":
            params.update({k: request.form[k] for k in _AUTHORIZE_PARAMS if k in request.form})
        return params

    def on_authorize(self, request: Request) -> Response:
        params = self._authorize_params(request)
        # Without a trusted client and redirect URI there is nowhere safe to send an error to.
        if params.get("client_id") != self.cloud.client_id:
            return html_response(400, "<!doctype html><title>Error</title><p>Unknown client.</p>")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri_allowed(redirect_uri, self.cloud.redirect_uris):
            return html_response(
                400, "<!doctype html><title>Error</title><p>Redirect URI not registered.</p>"
            )
        state = params.get("state")

        def fail(error: str, description: str) -> Response:
            answer = {"error": error, "error_description": description}
            if state is not None:
                answer["state"] = state
            return Response(status=302, headers={"Location": with_query(redirect_uri, answer)})

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", "only response_type=code is supported")
        scope = params.get("scope") or DEFAULT_SCOPE
        if not set(scope.split()) <= set(SCOPES):
            return fail("invalid_scope", f"supported scopes: {DEFAULT_SCOPE}")
        challenge = params.get("code_challenge")
        if challenge is not None:
            if params.get("code_challenge_method") != "S256":
                return fail("invalid_request", "code_challenge_method must be S256")
            if not PKCE_VALUE.fullmatch(challenge):
                return fail("invalid_request", "malformed code_challenge")
        if request.method == "GET":
            return html_response(200, self._login_page(params, error=None))
        username, password = request.form.get("username", ""), request.form.get("password", "")
        with self.cloud.lock:
            user = self.cloud.users.get(username)
        if user is None or not secrets.compare_digest(password.encode(), user.password.encode()):
            return html_response(401, self._login_page(params, error="Wrong username or password."))
        code = self.cloud.issue_code(user, redirect_uri, " ".join(scope.split()), challenge)
        answer = {"code": code} | ({"state": state} if state is not None else {})
        return Response(status=302, headers={"Location": with_query(redirect_uri, answer)})

    @staticmethod
    def _login_page(params: dict[str, str], error: str | None) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">\n'
            for k, v in params.items()
        )
        notice = f'<p role="alert">{html.escape(error)}</p>\n' if error else ""
        return _LOGIN_PAGE.format(error=notice, hidden=hidden)

    def _client(self, request: Request) -> str:
        """RFC 6749 section 2.3.1: HTTP Basic (form-encoded id and secret) or form fields, not both."""
        auth = request.authorization
        form_secret = request.form.get("client_secret")
        if auth is not None and auth.type == "basic":
            if form_secret is not None:
                raise ApiError(400, "invalid_request", "use one client authentication method")
            client_id, secret = unquote_plus(auth.username or ""), unquote_plus(auth.password or "")
            if request.form.get("client_id", client_id) != client_id:
                raise ApiError(400, "invalid_request", "client_id does not match the credentials")
        else:
            client_id, secret = request.form.get("client_id", ""), form_secret or ""
        if not client_id or not self.cloud.client_ok(client_id, secret):
            raise invalid_client()
        return client_id

    def on_token(self, request: Request) -> Response:
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        try:
            client_id = self._client(request)
            form = request.form
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                code, redirect_uri = form.get("code"), form.get("redirect_uri")
                if not code or not redirect_uri:
                    raise ApiError(400, "invalid_request", "code and redirect_uri are required")
                tokens = self.cloud.exchange_code(client_id, code, redirect_uri, form.get("code_verifier"))
            elif grant_type == "refresh_token":
                refresh = form.get("refresh_token")
                if not refresh:
                    raise ApiError(400, "invalid_request", "refresh_token is required")
                tokens = self.cloud.refresh_grant(client_id, refresh, form.get("scope"))
            elif grant_type is None:
                raise ApiError(400, "invalid_request", "grant_type is required")
            else:
                raise ApiError(400, "unsupported_grant_type", "use authorization_code or refresh_token")
        except ApiError as exc:
            exc.headers = {**no_store, **exc.headers}
            raise
        return json_response(200, tokens, no_store)

    def on_revoke(self, request: Request) -> Response:
        client_id = self._client(request)
        token = request.form.get("token")
        if not token:
            raise ApiError(400, "invalid_request", "token is required")
        self.cloud.revoke(client_id, token)
        return Response(status=200)


class OAuthFlowError(RuntimeError):
    """issue_token/refresh could not complete the OAuth flow (status and error code, no secrets)."""


class OAuthClient:
    """The client side of the grant, over HTTP: what Alexa does when a user links an account."""

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        import urllib3

        self.base_url = base_url
        self.client_id = client_id
        self.client_secret = client_secret
        self._http = urllib3.PoolManager(retries=False, timeout=10.0)

    def link(
        self, username: str, password: str, scope: str, redirect_uri: str, *, pkce: bool
    ) -> dict[str, Any]:
        """Login form, code from the redirect, code exchange; returns the token endpoint's JSON."""
        state = secrets.token_urlsafe(12)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": scope,
        }
        verifier = secrets.token_urlsafe(48)
        if pkce:
            params |= {"code_challenge": pkce_s256(verifier), "code_challenge_method": "S256"}
        page = self._http.request(
            "GET", f"{self.base_url}/oauth/authorize?{urlencode(params)}", redirect=False
        )
        if page.status != 200:
            raise OAuthFlowError(f"authorize form answered {page.status}")
        login = self._http.request(
            "POST",
            f"{self.base_url}/oauth/authorize",
            body=urlencode({**params, "username": username, "password": password}),
            headers={"Content-Type": FORM},
            redirect=False,
        )
        if login.status != 302:
            raise OAuthFlowError(f"login answered {login.status}")
        query = parse_qs(urlsplit(login.headers["Location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise OAuthFlowError(f"authorize redirect carried {sorted(query)}")
        fields = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri}
        if pkce:
            fields["code_verifier"] = verifier
        return self._token_request(fields)

    def refresh(self, refresh_token: str, scope: str | None) -> dict[str, Any]:
        fields = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope is not None:
            fields["scope"] = scope
        return self._token_request(fields)

    def _token_request(self, fields: dict[str, str]) -> dict[str, Any]:
        # RFC 6749 section 2.3.1: form-encode id and secret before Base64.
        raw = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}".encode()
        answer = self._http.request(
            "POST",
            f"{self.base_url}/oauth/token",
            body=urlencode(fields),
            headers={"Authorization": "Basic " + base64.b64encode(raw).decode(), "Content-Type": FORM},
            redirect=False,
        )
        body: dict[str, Any] = json.loads(answer.data or b"{}")
        if answer.status != 200:
            raise OAuthFlowError(f"token endpoint answered {answer.status} {body.get('error')}")
        return body
