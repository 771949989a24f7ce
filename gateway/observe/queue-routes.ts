/**
 * The queue side of the admin API (issue 17) as the routes see it: each call takes the
 * raw query or body, checks it (throwing BadRequest, answered 400) and answers JSON.
 * The queue module implements it (queue/queue-api.ts).
 */
export interface QueueRoutes {
  summary(query: URLSearchParams): Promise<unknown>;
  messages(query: URLSearchParams): Promise<unknown>;
  rules(): Promise<unknown>;
  /** `GET /api/messages/ID[?node=N]`: one message's life on every live node (or on N). */
  message(id: string, query: URLSearchParams): Promise<unknown>;
  act(action: string, body: unknown, by: string): Promise<unknown>;
}
