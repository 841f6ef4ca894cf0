/** PII masking for logs and operator-facing output (PIPL: financial data is sensitive). */

export function maskPhone(phone: string): string {
  const digits = phone.replace(/[^\d+]/g, '');
  if (digits.length <= 7) return '*'.repeat(digits.length);
  // Keep the prefix up to the last 8 digits, hide 4, keep the last 4: +86138****8000, 138****8000.
  return `${digits.slice(0, digits.length - 8)}****${digits.slice(-4)}`;
}

export function maskEmail(email: string): string {
  const at = email.indexOf('@');
  if (at < 1) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

/** Province and city only (`上海市浦东新区世纪大道 100 号` → `上海市****`): no district, street or postcode. */
export function maskPostalAddress(a: { province?: string; city?: string }): string {
  const parts = [a.province, a.city].filter((p): p is string => !!p && p.trim() !== '');
  const unique = parts.filter((p, i) => parts.indexOf(p) === i);
  return `${unique.join('')}****`;
}
