export function claims(token) {
  return JSON.parse(atob(token.split('.')[1]));
}
