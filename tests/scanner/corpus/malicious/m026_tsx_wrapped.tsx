export const View = () => {
  const html = <div>{(globalThis as any).eval(props.src)}</div>;
  return html;
};
