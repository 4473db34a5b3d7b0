export async function issue(n: number) {
  const res = await fetch(`https://api.github.com/repos/o/r/issues/${n}`);
  return res.json();
}
