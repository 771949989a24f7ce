/**
 * Mailbox syntax (RFC 5321 §4.1.2): a local part and a domain; the domain a hostname
 * (RFC 1035 letters, digits, hyphens; UTF-8 labels allowed with SMTPUTF8) or an address
 * literal. One rule for the config ([feedback] addresses are checked at load) and for
 * ingress (MAIL FROM / RCPT TO): under config/, the seam both may import.
 */
const LABEL = /^(?!-)[A-Za-z0-9\u0080-\uFFFF-]{1,63}(?<!-)$/u;

export function isValidMailbox(address: string): boolean {
  if (address.length > 254) return false;
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || /[\s<>()[\]\\,;:]/.test(local.replace(/^".*"$/s, 'q'))) return false;
  if (domain.startsWith('[')) return /^\[(\d{1,3}(\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]$/.test(domain);
  const labels = domain.replace(/\.$/, '').split('.');
  return labels.length >= 1 && labels.every((l) => LABEL.test(l));
}
