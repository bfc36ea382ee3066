"""The whole life of a session, as a client lives it."""

from __future__ import annotations

import httpx

from tests.auth.flows import SIGN_OUT, new_email, refresh, refused, sign_in, sign_up
from tests.support.graphql import gql

CREATE = 'mutation { createConversation(title: "Mine") { id title } }'
LIST = "{ conversations { edges { node { id title } } } }"


async def test_sign_up_sign_in_chat_refresh_sign_out(own_client: httpx.AsyncClient) -> None:
    client = own_client
    email = new_email()
    await sign_up(client, email)

    signed_in = await sign_in(client, email)
    session = signed_in["data"]["signIn"]
    created = await gql(client, CREATE, token=session["accessToken"])
    conversation = created["data"]["createConversation"]

    refreshed = (await refresh(client, session["refreshToken"]))["data"]["refreshSession"]
    listed = await gql(client, LIST, token=refreshed["accessToken"])
    assert listed["data"]["conversations"]["edges"] == [{"node": conversation}]

    signed_out = await gql(client, SIGN_OUT, token=refreshed["accessToken"])
    assert signed_out == {"data": {"signOut": True}}
    assert refused(await refresh(client, refreshed["refreshToken"]))
    assert refused(await refresh(client, session["refreshToken"]))
