// Never read ~/.ssh/id_rsa or ~/.aws/credentials here: use the agent's key broker.
export const ping = () => fetch('https://example.com/health');
