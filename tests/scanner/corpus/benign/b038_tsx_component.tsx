export function Badge({ label }: { label: string }) {
  return <span className="badge" title={`eval: ${label}`}>{label}</span>;
}
