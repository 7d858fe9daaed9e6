"""Regenerate the demo COCO set in this folder: images/*.jpg and instances.json.

    python data/demo/make_demo.py

Photos are scikit-image's bundled sample images (see LICENSE.md for each one's licence); the polygons
below were placed by hand on each photo, in the photo's own pixel frame (x, y). Every mask is rasterised
with pycocotools, and area/bbox come from that mask, so the output is the same on every run.
Three annotations are stored as RLE instead of polygons to exercise the other COCO encodings:
"rle" = uncompressed RLE (counts as a list), "compressed" = compressed RLE (counts as a string),
"crowd" = uncompressed RLE with iscrowd=1.
"""
import json
import os

import numpy as np
import skimage.data
from PIL import Image
from pycocotools import mask as mask_utils

HERE = os.path.dirname(os.path.abspath(__file__))

LICENSES = [
    {"id": 1, "name": "Public Domain", "url": "https://creativecommons.org/publicdomain/mark/1.0/"},
    {"id": 2, "name": "CC0 1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"},
]

# (image id, skimage.data function, licence id); file name is the 12-digit id, as in COCO
IMAGES = [
    (1, "astronaut", 1),
    (2, "chelsea", 2),
    (3, "coffee", 2),
    (4, "rocket", 1),
    (5, "hubble_deep_field", 1),
    (6, "retina", 2),
    (7, "camera", 2),  # greyscale; saved as a single-channel JPEG
]

CATEGORIES = [("person", "person"), ("flag", "object"), ("helmet", "accessory"), ("patch", "accessory"),
              ("rocket", "vehicle"), ("cat", "animal"), ("cup", "kitchen"), ("saucer", "kitchen"),
              ("spoon", "kitchen"), ("tower", "outdoor"), ("galaxy", "sky"), ("optic disc", "anatomy"),
              ("camera", "electronic"), ("tripod", "electronic")]

# (name, image id, category, kind, polygon [x1, y1, x2, y2, ...], names of annotations cut out of this one)
ANNOTATIONS = [
    ("person", 1, "person", "polygon",
     [224, 18, 250, 20, 275, 30, 293, 48, 300, 71, 297, 95, 294, 112, 285, 128, 278, 140, 290, 170,
      297, 195, 303, 235, 320, 242, 337, 257, 351, 289, 360, 321, 362, 348, 346, 357, 330, 364,
      310, 380, 292, 403, 280, 430, 276, 457, 274, 485, 274, 512, 37, 512, 33, 493, 30, 467,
      23, 440, 20, 417, 20, 387, 23, 350, 27, 320, 37, 280, 50, 257, 67, 233, 90, 215, 113, 190,
      125, 170, 143, 157, 160, 152, 175, 148, 176, 129, 165, 115, 159, 100, 154, 80, 158, 58,
      170, 40, 195, 24], []),
    ("flag", 1, "flag", "polygon",
     [0, 0, 44, 0, 56, 35, 62, 71, 71, 100, 85, 129, 94, 159, 97, 194, 88, 212, 67, 233, 50, 257,
      37, 280, 27, 320, 23, 350, 20, 387, 20, 417, 23, 440, 30, 467, 33, 493, 37, 512, 0, 512], []),
    ("helmet", 1, "helmet", "polygon",
     [274, 512, 274, 485, 276, 457, 280, 430, 292, 403, 310, 380, 330, 364, 346, 357, 365, 351,
      396, 346, 428, 349, 455, 362, 478, 385, 492, 412, 497, 445, 505, 462, 512, 475, 512, 512], []),
    ("patch", 1, "patch", "polygon",  # round mission patch on the chest
     [209, 386, 207, 397, 202, 407, 194, 416, 183, 421, 172, 422, 160, 421, 149, 416, 141, 407,
      136, 397, 134, 386, 136, 375, 141, 365, 149, 356, 160, 351, 172, 350, 183, 351, 194, 356,
      202, 365, 207, 375], []),
    ("shuttle", 1, "rocket", "polygon",  # space shuttle model, top right
     [400, 0, 436, 0, 438, 40, 443, 42, 449, 40, 455, 52, 457, 100, 458, 150, 458, 192, 459, 224,
      455, 240, 452, 262, 440, 272, 420, 275, 400, 275, 380, 272, 372, 262, 375, 240, 368, 230,
      356, 222, 360, 212, 370, 200, 380, 188, 380, 150, 380, 92, 382, 60, 384, 46, 390, 42,
      397, 45, 399, 12], []),
    ("cat", 2, "cat", "compressed",
     [0, 300, 0, 140, 8, 128, 20, 100, 30, 50, 38, 20, 42, 0, 400, 0, 390, 15, 375, 40, 362, 62,
      360, 85, 362, 125, 360, 160, 350, 190, 345, 220, 355, 250, 370, 275, 380, 300], []),
    ("cup", 3, "cup", "polygon",
     [285, 19, 320, 21, 350, 28, 375, 40, 395, 58, 405, 80, 408, 105, 406, 130, 404, 155, 398, 180,
      391, 200, 380, 217, 362, 233, 343, 243, 330, 258, 326, 275, 322, 284, 294, 287, 266, 285,
      257, 274, 253, 294, 237, 306, 217, 307, 203, 300, 197, 280, 200, 254, 211, 232, 197, 212,
      185, 190, 178, 160, 174, 120, 176, 90, 185, 65, 205, 40, 235, 25, 260, 20], []),
    ("spoon", 3, "spoon", "polygon",
     [397, 70, 402, 68, 416, 67, 422, 71, 424, 76, 421, 88, 417, 102, 414, 116, 411, 130, 408, 146,
      404, 162, 401, 178, 397, 194, 392, 210, 388, 224, 386, 230, 396, 244, 405, 264, 406, 280,
      400, 304, 392, 316, 378, 323, 358, 325, 342, 318, 331, 304, 327, 280, 328, 264, 336, 252,
      348, 242, 362, 234, 374, 224, 380, 214, 390, 205, 396, 185, 400, 165, 403, 145, 405, 125,
      406, 110, 404, 95, 400, 82], []),
    ("saucer", 3, "saucer", "rle",  # outer rim; the cup and spoon on it are cut out
     [77, 200, 85, 160, 105, 125, 135, 97, 165, 80, 410, 105, 440, 125, 465, 155, 478, 190, 480, 225,
      474, 265, 455, 305, 425, 340, 385, 366, 335, 382, 285, 387, 235, 383, 185, 370, 140, 345,
      105, 310, 85, 270, 78, 235], ["cup", "spoon"]),
    ("falcon", 4, "rocket", "polygon",
     [322, 125, 327, 128, 331, 135, 333, 145, 334, 160, 333, 180, 333, 220, 332, 260, 332, 300,
      331, 340, 331, 380, 331, 408, 322, 409, 312, 408, 311, 380, 311, 340, 311, 300, 311, 260,
      311, 220, 311, 180, 311, 160, 312, 145, 315, 134, 318, 128], []),
    ("tower", 4, "tower", "polygon",  # lightning tower right of the pad
     [443, 124, 449, 124, 450, 190, 458, 190, 464, 230, 470, 278, 474, 330, 476, 370, 478, 427,
      438, 427, 438, 370, 439, 330, 440, 278, 441, 230, 442, 190, 443, 160], []),
    ("elliptical", 5, "galaxy", "polygon",
     [748, 472, 746, 480, 742, 486, 735, 491, 727, 492, 719, 491, 712, 486, 708, 480, 706, 472,
      708, 464, 712, 458, 719, 453, 727, 452, 735, 453, 742, 458, 746, 464], []),
    ("spiral", 5, "galaxy", "polygon",
     [120, 378, 128, 379, 135, 383, 140, 390, 142, 400, 140, 408, 135, 414, 127, 418, 119, 418,
      112, 414, 108, 408, 106, 400, 107, 391, 110, 384, 115, 380], []),
    ("group", 5, "galaxy", "crowd",  # three interacting galaxies, one crowd region
     [440, 137, 445, 136, 452, 140, 456, 146, 468, 146, 470, 150, 468, 160, 460, 164, 454, 166,
      453, 176, 448, 182, 442, 184, 440, 178, 441, 168, 438, 162, 430, 160, 426, 158, 432, 154,
      436, 148, 436, 140], []),
    ("disc", 6, "optic disc", "polygon",
     [167, 580, 211, 572, 261, 577, 300, 591, 314, 619, 317, 663, 308, 708, 289, 741, 261, 758,
      222, 758, 189, 741, 156, 713, 131, 691, 119, 663, 122, 624, 139, 594], []),
    ("cameraman", 7, "person", "polygon",
     [211, 67, 235, 70, 255, 82, 265, 100, 270, 120, 262, 140, 252, 150, 254, 162, 247, 170,
      242, 177, 240, 189, 241, 200, 243, 209, 262, 207, 282, 210, 290, 203, 305, 200, 312, 205,
      325, 202, 331, 190, 330, 172, 322, 165, 312, 168, 308, 178, 300, 185, 288, 190, 283, 200,
      283, 245, 288, 262, 288, 285, 280, 300, 265, 310, 250, 312, 222, 311, 200, 320, 183, 333,
      165, 355, 152, 378, 150, 430, 150, 512, 0, 512, 0, 250, 11, 233, 33, 200, 61, 161,
      89, 133, 110, 122, 135, 116, 150, 108, 167, 94, 185, 75], []),
    ("camcorder", 7, "camera", "polygon",
     [260, 142, 268, 139, 290, 139, 310, 139, 322, 139, 325, 145, 324, 155, 318, 160, 312, 168,
      308, 178, 300, 184, 285, 185, 275, 186, 268, 182, 260, 178, 259, 165, 259, 150], []),
    ("tripod", 7, "tripod", "polygon",
     [289, 213, 299, 213, 299, 311, 305, 313, 339, 301, 340, 307, 312, 322, 313, 333, 340, 385,
      370, 440, 397, 488, 406, 512, 399, 512, 362, 440, 332, 385, 303, 345, 300, 345, 300, 487,
      289, 487, 289, 345, 282, 365, 264, 440, 241, 512, 230, 512, 249, 440, 270, 380, 281, 336,
      280, 318, 289, 311], []),
]


def uncompressed_rle(m):
    """HxW 0/1 mask -> COCO uncompressed RLE: run lengths in column-major order, starting with 0s."""
    flat = m.flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]]))
    counts = ([0] if flat[0] else []) + runs.tolist()
    return {"counts": [int(c) for c in counts], "size": [int(m.shape[0]), int(m.shape[1])]}


def main():
    img_dir = os.path.join(HERE, "images")
    os.makedirs(img_dir, exist_ok=True)
    images, sizes = [], {}
    for image_id, name, lic in IMAGES:
        pixels = getattr(skimage.data, name)()
        h, w = pixels.shape[:2]
        file_name = f"{image_id:012d}.jpg"
        Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB").save(
            os.path.join(img_dir, file_name), quality=95)
        images.append({"id": image_id, "file_name": file_name, "width": w, "height": h,
                       "license": lic})
        sizes[image_id] = (h, w)

    masks = {}  # annotation name -> HxW uint8 mask of its polygon
    for name, image_id, _, _, poly, _ in ANNOTATIONS:
        h, w = sizes[image_id]
        masks[name] = mask_utils.decode(mask_utils.frPyObjects([poly], h, w)[0])

    cat_ids = {c: i + 1 for i, (c, _) in enumerate(CATEGORIES)}
    annotations = []
    for ann_id, (name, image_id, cat, kind, poly, minus) in enumerate(ANNOTATIONS, start=1):
        m = masks[name].copy()
        for other in minus:
            m[masks[other] > 0] = 0
        rle = mask_utils.encode(np.asfortranarray(m))
        if kind == "polygon":
            segmentation = [poly]
        elif kind == "compressed":
            segmentation = {"counts": rle["counts"].decode("ascii"), "size": rle["size"]}
        else:  # "rle" and "crowd"
            segmentation = uncompressed_rle(m)
        annotations.append({
            "id": ann_id, "image_id": image_id, "category_id": cat_ids[cat],
            "segmentation": segmentation, "area": int(mask_utils.area(rle)),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)], "iscrowd": int(kind == "crowd"),
        })

    coco = {
        "info": {"description": "inpaint-pairs demo set: scikit-image sample photos, hand-drawn masks",
                 "version": "1.0", "year": 2026, "contributor": "inpaint-pairs project",
                 "url": "", "date_created": "2026-11-22"},
        "licenses": LICENSES,
        "images": images,
        "annotations": annotations,
        "categories": [{"id": cat_ids[c], "name": c, "supercategory": s} for c, s in CATEGORIES],
    }
    with open(os.path.join(HERE, "instances.json"), "w") as f:
        json.dump(coco, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(images)} images, {len(annotations)} annotations -> {HERE}")


if __name__ == "__main__":
    main()
