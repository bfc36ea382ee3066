// One chat turn through @apollo/client with GraphQLWsLink; one JSON line per event.
import { ApolloClient, InMemoryCache, gql } from "@apollo/client/core/index.js";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions/index.js";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { CHAT, args } from "./subscription.mjs";

const { url, token, variables } = args();
const wsClient = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
const apollo = new ApolloClient({
  link: new GraphQLWsLink(wsClient),
  cache: new InMemoryCache({ possibleTypes: {
    ChatEvent: ["ChatStarted", "TextDelta", "ToolCall", "ToolResult", "ChatCompleted"],
  } }),
});

await new Promise((resolve) => {
  apollo.subscribe({ query: gql(CHAT), variables, fetchPolicy: "no-cache" }).subscribe({
    next: (result) => {
      if (result.errors?.length) console.log(JSON.stringify({ errors: result.errors }));
      else console.log(JSON.stringify(result.data.chat));
    },
    error: (error) => {
      console.log(JSON.stringify({ errors: error.graphQLErrors ?? [String(error)] }));
      resolve();
    },
    complete: resolve,
  });
});
await wsClient.dispose();
apollo.stop();
