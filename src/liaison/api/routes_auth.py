"""Sign-in, tokens and users."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from liaison.api.schemas import LoginIn, PasswordIn, TokenIn, UserIn, plain
from liaison.api.security import CurrentUser, NodeDeps, bearer_token
from liaison.api.views import user_view
from liaison.domain.users import Role
from liaison.services import auth
from liaison.services.agreements import list_parties
from liaison.services.auth_roles import require
from liaison.services.context import Deps

router = APIRouter(prefix="/api", tags=["sign-in and users"])


def _party(deps: Deps) -> Any:
    return next(p for p in list_parties(deps) if p.code == deps.party)


@router.post("/auth/login", summary="Sign in with a password; returns a session token")
def login(body: LoginIn, request: Request, deps: NodeDeps) -> dict[str, Any]:
    client = request.client.host if request.client else "unknown"
    request.app.state.login_throttle.check(f"ip:{client}", f"user:{body.username}")
    token, record, user = auth.login(deps, body.username, body.password)
    return {"token": token, "expires_at": record.expires_at.isoformat() if record.expires_at
            else None, "user": user_view(user, _party(deps))}


@router.post("/auth/logout", summary="Revoke the token used for this request")
def logout(deps: NodeDeps, token: Annotated[str, Depends(bearer_token)]) -> dict[str, str]:
    auth.logout(deps, token)
    return {"status": "signed out"}


@router.get("/me", summary="Who am I: roles and clearance")
def me(user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return {**user_view(user, _party(deps)), "node": deps.party}


@router.post("/tokens", summary="An API token for a machine, acting as the caller")
def api_token(body: TokenIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    ttl = timedelta(days=body.days) if body.days else None
    token, record = auth.issue_token(deps, user.username, "api", body.name, ttl)
    return {"token": token, "name": body.name,
            "expires_at": record.expires_at.isoformat() if record.expires_at else None}


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


@router.put("/users/{username}/password", summary="Set a user's password (admin)")
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
