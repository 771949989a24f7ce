/**
 * The bounce reasons: the vocabulary ops people know from bounce-processing tools. A
 * reason names why a recipient failed; the rules file (config/bounce-rules.toml) maps
 * what a reply or a bounce says to one of these, and says which ones are hard.
 */
export const BOUNCE_REASONS = [
  'userunknown',
  'hostunknown',
  'mailboxfull',
  'hasmoved',
  'suspend',
  'expired',
  'filtered',
  'rejected',
  'blocked',
  'spamdetected',
  'virusdetected',
  'policyviolation',
  'norelaying',
  'notaccept',
  'requireptr',
  'authfailure',
  'badreputation',
  'securityerror',
  'failedstarttls',
  'mesgtoobig',
  'exceedlimit',
  'contenterror',
  'notcompliantrfc',
  'syntaxerror',
  'networkerror',
  'systemerror',
  'systemfull',
  'mailererror',
  'toomanyconn',
  'speeding',
  'onhold',
  'vacation',
  'delivered',
  'feedback',
  'undefined',
] as const;

export type BounceReason = (typeof BOUNCE_REASONS)[number];
