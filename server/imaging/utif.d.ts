/** Minimal types for the untyped `utif` package (UTIF.js): only what server/imaging/tiff.ts uses. */
declare module 'utif' {
  /** An image file directory: tags as "t<number>" arrays, plus width/height/data after decodeImage. */
  export interface IFD {
    [tag: `t${number}`]: number[] | string[] | undefined;
    width?: number;
    height?: number;
    data?: Uint8Array;
    isLE?: boolean;
  }
  interface UTIFStatic {
    decode(buffer: ArrayBuffer): IFD[];
    decodeImage(buffer: ArrayBuffer, ifd: IFD, ifds?: IFD[]): void;
    encode(ifds: IFD[]): ArrayBuffer;
  }
  const UTIF: UTIFStatic;
  export default UTIF;
}
