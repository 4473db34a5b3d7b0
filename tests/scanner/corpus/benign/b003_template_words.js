export function describe(user) {
  return `${user} tried eval() and setTimeout('x') in a prompt`;
}
