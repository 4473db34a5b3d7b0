const re = /(\w+)=(\w+)/g;
export function pairs(s: string): string[][] {
  const out: string[][] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) out.push([m[1], m[2]]);
  return out;
}
