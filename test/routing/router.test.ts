// Router (routing/router.ts): which pool and priority a recipient's mail takes.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../gateway/config/schema.js';
import { domainOf, IMPLICIT_POOL, Router, type RouteInput } from '../../gateway/routing/router.js';

const POOLS = {
  transactional: { sources: ['a'], priority: 10 },
  promotional: { sources: ['b'] },
  gmail_warm: { sources: ['a'], priority: 3 },
};
const SOURCES = { a: { ip: '127.0.0.2', ehlo: 'a.test' }, b: { ip: '127.0.0.3', ehlo: 'b.test' } };

function router(routes: unknown[] = [], pools: Record<string, unknown> = POOLS): Router {
  return new Router(configSchema.parse({ sources: SOURCES, pools, routes }));
}

function input(over: Partial<RouteInput['envelope']> = {}, domain = 'example.net', provider = 'default'): RouteInput {
  return {
    envelope: { class: 'promotional', mailFrom: 'news@shop.example.com', authUser: null, routeHeaders: {}, pool: null, priority: null, ...over },
    domain,
    provider,
  };
}

describe('Router.decide', () => {
  it('takes the first rule whose every field matches, with the rule\'s priority', () => {
    const r = router([
      { provider: 'gmail', class: 'transactional', pool: 'transactional', priority: 20 },
      { provider: 'gmail', pool: 'gmail_warm' },
      { sender_domain: '*.example.com', pool: 'transactional' },
    ]);
    // Rule 0 needs both fields: promotional mail to gmail falls to rule 1, with its pool's priority.
    expect(r.decide(input({}, 'gmail.com', 'gmail'))).toEqual({ pool: 'gmail_warm', priority: 3, rule: 1, why: 'routes[1] matched' });
    expect(r.decide(input({ class: 'transactional' }, 'gmail.com', 'gmail'))).toMatchObject({ pool: 'transactional', priority: 20, rule: 0 });
    // Not gmail: the sender domain glob of rule 2.
    expect(r.decide(input({}, 'example.net', 'outlook'))).toMatchObject({ pool: 'transactional', priority: 10, rule: 2 });
    expect(r.decide(input({ mailFrom: 'x@other.org' }, 'example.net', 'outlook'))).toMatchObject({ pool: 'promotional', rule: null });
  });

  it('matches recipient domain, auth user and captured header values', () => {
    const r = router([
      { recipient_domain: 'corp.example', pool: 'transactional' },
      { auth_user: 'billing-*', pool: 'transactional', priority: 7 },
      { header: { 'X-Stream': 'bulk-*' }, pool: 'promotional', priority: 1 },
    ]);
    expect(r.headerNames()).toEqual(['x-stream']);
    expect(r.decide(input({}, 'corp.example'))).toMatchObject({ pool: 'transactional', rule: 0 });
    expect(r.decide(input({ authUser: 'billing-eu' }))).toMatchObject({ pool: 'transactional', priority: 7, rule: 1 });
    expect(r.decide(input({ class: 'transactional', routeHeaders: { 'x-stream': 'bulk-autumn' } }))).toMatchObject({ pool: 'promotional', priority: 1, rule: 2 });
    expect(r.decide(input({ class: 'transactional', routeHeaders: { 'x-stream': 'alerts' } }))).toMatchObject({ pool: 'transactional', rule: null });
  });

  it('lets a plugin\'s pool win over every rule, and an envelope priority over the pool\'s', () => {
    const r = router([{ class: '*', pool: 'promotional' }]);
    expect(r.decide(input({ pool: 'transactional' }))).toEqual({ pool: 'transactional', priority: 10, rule: null, why: 'pool "transactional" set by a plugin' });
    expect(r.decide(input({ pool: 'transactional', priority: 99 }))).toMatchObject({ priority: 99 });
    // A pool the config does not have is ignored: the rules decide.
    expect(r.decide(input({ pool: 'nonexistent' }))).toMatchObject({ pool: 'promotional', rule: 0 });
    expect(r.decide(input({ priority: 4 }))).toMatchObject({ pool: 'promotional', priority: 4 });
  });

  it('falls back to the pool named like the class, then the first pool, then the implicit one', () => {
    expect(router().decide(input({ class: 'transactional' }))).toMatchObject({ pool: 'transactional', priority: 10, why: 'pool named like class "transactional"' });
    expect(router().decide(input({ class: 'newsletters' }))).toMatchObject({ pool: 'transactional', why: 'no pool named "newsletters": first pool "transactional"' });
    expect(router([], {}).decide(input())).toMatchObject({ pool: IMPLICIT_POOL, priority: 0 });
  });
});

describe('domainOf', () => {
  it('takes the part after the last @, lower-cased', () => {
    expect(domainOf('"a@b"@Example.NET')).toBe('example.net');
    expect(domainOf('postmaster')).toBe('');
  });
});
