export function evaluate(x) { return x; }
const evalResult = evaluate(1);
const retrieval = { evaluator: evalResult };
export default retrieval;
