class Calculator {
  eval(expr: string): number { return expr.split('+').map(Number).reduce((a, b) => a + b, 0); }
}
export const total = new Calculator().eval('1+2');
