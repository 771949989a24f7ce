import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findProjectRoot } from '../../loadtest/setup/project-root.js';

// The compiled entry point (dist/loadtest/main.js) finds the project from its own path,
// so `npm run loadtest` works from any directory.
describe('findProjectRoot', () => {
  const root = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

  it('walks up from the compiled file to the package named sluice', () => {
    expect(findProjectRoot(pathToFileURL(`${root}/dist/loadtest/main.js`).href, '/')).toBe(root);
  });

  it('falls back to the working directory, and to null', () => {
    expect(findProjectRoot(pathToFileURL('/tmp/elsewhere/main.js').href, `${root}/loadtest`)).toBe(root);
    expect(findProjectRoot(pathToFileURL('/tmp/elsewhere/main.js').href, '/tmp')).toBeNull();
  });
});
