/**
 * The queue side of the admin API (issue 17) as the routes see it: each call takes the
 * raw query or body, checks it (throwing BadRequest, answered 400) and answers JSON.
 * The queue module implements it (queue/queue-api.ts).
 */
export interface QueueRoutes {
  summary(query: URLSearchParams): Promise<unknown>;
  messages(query: URLSearchParams): Promise<unknown>;
  rules(): Promise<unknown>;
  message(id: string): Promise<unknown>;
  act(action: string, body: unknown, by: string): Promise<unknown>;
}
