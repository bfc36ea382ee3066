// One chat turn through @apollo/client's HttpLink: a subscription over HTTP as Apollo sends
// it (multipart/mixed;subscriptionSpec=1.0), no WebSocket. One JSON line per event.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client/core/index.js";
import { CHAT, args } from "./subscription.mjs";

const { url, token, variables } = args();
const apollo = new ApolloClient({
  link: new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` } }),
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
      const errors = error.graphQLErrors?.length ? error.graphQLErrors : error.protocolErrors;
      console.log(JSON.stringify({ errors: errors?.length ? errors : [String(error)] }));
      resolve();
    },
    complete: resolve,
  });
});
apollo.stop();
