// One chat turn through the `graphql-ws` package (graphql-transport-ws); one JSON line per event.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { CHAT, args } from "./subscription.mjs";

const { url, token, variables } = args();
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

try {
  for await (const result of client.iterate({ query: CHAT, variables })) {
    if (result.errors) {
      console.log(JSON.stringify({ errors: result.errors }));
      break;
    }
    console.log(JSON.stringify(result.data.chat));
  }
} catch (error) {
  console.log(JSON.stringify({ errors: Array.isArray(error) ? error : [String(error)] }));
} finally {
  await client.dispose();
}
