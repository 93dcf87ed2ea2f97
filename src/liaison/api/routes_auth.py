"""Sign-in, tokens and users."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from liaison.api.schemas import Body, LoginIn, PasswordIn, TokenIn, UserIn, plain
from liaison.api.security import CurrentUser, NodeDeps, bearer_token, client_address
from liaison.api.views import user_view
from liaison.domain.users import Role
from liaison.services import auth
from liaison.services.agreements import list_parties
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.ports import TokenRecord

router = APIRouter(prefix="/api", tags=["sign-in and users"])


def _party(deps: Deps) -> Any:
    return next(p for p in list_parties(deps) if p.code == deps.party)


@router.post("/auth/login", summary="Sign in with a password; returns a session token")
def login(body: LoginIn, request: Request, deps: NodeDeps) -> dict[str, Any]:
    client = client_address(request)
    request.app.state.login_throttle.check(f"ip:{client}", f"user:{body.username}")
    token, record, user = auth.login(deps, body.username, body.password)
    return {"token": token, "expires_at": record.expires_at.isoformat() if record.expires_at
            else None, "user": user_view(user, _party(deps))}


@router.post("/auth/logout", summary="Sign out: revoke the token used for this request (the "
             "session; the user's API tokens are separate credentials and stay valid)")
def logout(deps: NodeDeps, token: Annotated[str, Depends(bearer_token)]) -> dict[str, str]:
    auth.logout(deps, token)
    return {"status": "signed out"}


@router.get("/me", summary="Who am I: roles and clearance")
def me(user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return {**user_view(user, _party(deps)), "node": deps.party}


class PasswordChangeIn(Body):
    current: str = Field(min_length=1, max_length=1024, description="the password now")
    password: str = Field(min_length=12, max_length=1024, description="the new password")


@router.put("/me/password", summary="Change your password; revokes all your tokens "
            "(this session and your API tokens): sign in again")
def change_password(body: PasswordChangeIn, user: CurrentUser,
                    deps: NodeDeps) -> dict[str, Any]:
    revoked = auth.change_password(deps, user, body.current, body.password)
    return {"status": "password changed; sign in again", "tokens_revoked": revoked}


def token_view(record: TokenRecord) -> dict[str, Any]:
    return {"id": auth.token_id(record), "kind": record.kind, "name": record.name,
            "username": record.username, "created_at": record.created_at.isoformat(),
            "expires_at": record.expires_at.isoformat() if record.expires_at else None}


@router.post("/tokens", status_code=201,
             summary="An API token for a machine, acting as the caller; it expires "
                     "(default api_token_days, at most api_token_max_days)")
def api_token(body: TokenIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    token, record = auth.issue_api_token(deps, user, body.name, body.days)
    return {**token_view(record), "token": token}


@router.get("/tokens", summary="Your tokens in force (sessions and API tokens)")
def my_tokens(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return [token_view(t) for t in auth.list_tokens(deps, user, user.username)]


@router.delete("/tokens/{token_id}", summary="Revoke one of your tokens by its id")
def revoke_my_token(token_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return {**token_view(auth.revoke_token(deps, user, user.username, token_id)),
            "status": "revoked"}


@router.get("/users/{username}/tokens", summary="A user's tokens in force (admin, or the "
            "user)")
def user_tokens(username: str, user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return [token_view(t) for t in auth.list_tokens(deps, user, username)]


@router.delete("/users/{username}/tokens/{token_id}",
               summary="Revoke a user's token (admin, or the user)")
def revoke_user_token(username: str, token_id: str, user: CurrentUser,
                      deps: NodeDeps) -> dict[str, Any]:
    return {**token_view(auth.revoke_token(deps, user, username, token_id)),
            "status": "revoked"}


@router.get("/users", summary="Users of this node (admin)")
def users(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    require(user, Role.ADMIN)
    party = _party(deps)
    return [user_view(u, party) for u in auth.list_users(deps)]


@router.post("/users", status_code=201, summary="Create a user (admin)")
def create_user(body: UserIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    require(user, Role.ADMIN)
    party = _party(deps)
    levels = {lv.name: lv.rank for lv in party.scheme.levels}
    data = plain(body)
    new = auth.create_user(deps, user.username, auth.user_from(data, levels), data["password"])
    return user_view(new, party)


@router.put("/users/{username}/password",
            summary="Set a user's password (admin); revokes all the user's tokens")
def set_password(username: str, body: PasswordIn, user: CurrentUser,
                 deps: NodeDeps) -> dict[str, str]:
    require(user, Role.ADMIN)
    auth.set_password(deps, user.username, username, body.password)
    return {"status": "password set"}


@router.post("/users/{username}/disable", summary="Disable a user and revoke their tokens")
def disable(username: str, user: CurrentUser, deps: NodeDeps) -> dict[str, str]:
    require(user, Role.ADMIN)
    auth.disable_user(deps, user.username, username)
    return {"status": "disabled"}
