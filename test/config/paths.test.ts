// Config paths resolve against the config file's directory, never the working directory
// (README "Paths"); one helper does it for the gateway and, through the plugin API, for plugins.
import { describe, expect, it } from 'vitest';
import { configPath } from '../../gateway/config/paths.js';
import { configPath as pluginConfigPath } from '../../gateway/plugin-host/public.js';

describe('configPath', () => {
  it('reads a relative path from the config directory, whatever the working directory', () => {
    expect(configPath('/etc/sluice', 'certs/tls.pem')).toBe('/etc/sluice/certs/tls.pem');
    expect(configPath('/etc/sluice', '../data')).toBe('/etc/data');
    expect(configPath('/etc/sluice', './token')).toBe('/etc/sluice/token');
  });

  it('keeps an absolute path as written', () => {
    expect(configPath('/etc/sluice', '/var/lib/sluice')).toBe('/var/lib/sluice');
  });

  it('is the one the plugin API hands to plugins', () => {
    expect(pluginConfigPath).toBe(configPath);
  });
});
