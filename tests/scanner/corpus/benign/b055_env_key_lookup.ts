export async function call(prompt: string) {
  const key = process.env.SYNTHETIC_API_KEY;
  if (!key) throw new Error('set SYNTHETIC_API_KEY');
  const res = await fetch('https://api.example.com/v1', { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: JSON.stringify({ prompt }) });
  return res.json();
}
