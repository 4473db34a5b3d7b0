const p = process;
const fsb = p.binding('fs');
export default fsb;
