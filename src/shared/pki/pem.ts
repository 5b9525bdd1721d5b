/** PEM armour: finds every `-----BEGIN <label>-----` block of the wanted labels. */
export function pemBlocks(text: string, labels: readonly string[]): { label: string; der: Uint8Array }[] {
  const out: { label: string; der: Uint8Array }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const label = m[1] ?? '';
    if (!labels.includes(label)) continue;
    const body = (m[2] ?? '').replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, '');
    out.push({ label, der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  return out;
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** True when the bytes look like PEM text rather than DER. */
export function isPem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 4096)).toString('latin1').includes('-----BEGIN ');
}
