// What a docs recipe may use without defining it, loaded with `node --import` before the
// recipe runs (tests/docs/test_js_recipes.py says which names and why). RECIPE_CONTEXT (JSON)
// carries the live server's values; at exit the file RECIPE_REPORT says what the recipe did.
import { register } from "node:module";
import { writeFileSync } from "node:fs";
import { ApolloClient, InMemoryCache } from "@apollo/client/core/index.js";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions/index.js";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

register("./bundler_resolve.mjs", import.meta.url);

const context = JSON.parse(process.env.RECIPE_CONTEXT);
const seen = { rendered: [], errors: [], kept: 0 };
let tokens = { accessToken: context.accessToken };

Object.assign(globalThis, {
  CHAT: context.chat,
  conversationId: context.conversationId,
  replyId: context.replyId,
  accessToken: context.accessToken,
  currentAccessToken: () => tokens.accessToken,
  keepTokens: (next) => {
    tokens = next;
    seen.kept += 1;
  },
  render: (text) => seen.rendered.push(text),
  showError: (error) => seen.errors.push(String(error)),
  // "a GraphQLWsLink as in the API": the Apollo Client recipe's, for the recipes that use one.
  apollo: new ApolloClient({
    link: new GraphQLWsLink(
      createClient({
        url: context.wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: () => ({ Authorization: `Bearer ${tokens.accessToken}` }),
      }),
    ),
    cache: new InMemoryCache(),
  }),
});

process.on("exit", () => writeFileSync(process.env.RECIPE_REPORT, JSON.stringify(seen)));
