"""Draw a scene with OpenCV polygons (painter's order) and label what is actually visible.

Every polygon is drawn twice: anti-aliased into the colour image, and with its object's id into
a label buffer. A label box is the tight box of the object's pixels left in that buffer, so it
is exactly the visible extent: occluded parts and parts outside the frame do not count.
Occlusion policy: a robot is labelled when at least 40% of the pixels it had when drawn are
still visible (and at least 40% of its projected box is in frame); an armor plate when it faces
the camera (within 72 degrees), 60% of it is visible and it is at least 5 pixels wide at 640.
A robot with a labelled armor plate is labelled too (however much of it is hidden or out of
frame), so an armor box always lies inside its robot's box. Mostly hidden objects stay in the image
unlabelled. Armor of dead robots is not labelled: its lights are off and the dataset has no
class for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

from edgeprune.data.synth.geometry import (
    BOX_FACES,
    NEAR,
    Mesh,
    MeshBuilder,
    box_vertices,
    rotation_z,
)
from edgeprune.data.synth.robot import ArmorPlate, place_robot
from edgeprune.data.synth.scene import Scene

CLASSES = ("red_armor", "red_robot", "blue_robot", "dead_robot", "blue_armor")
ROBOT_CLASS = {"red": 1, "blue": 2, "dead": 3}
ARMOR_CLASS = {"red": 0, "blue": 4}
OCCLUDER_ID = 255
IDS_PER_ROBOT = 5  # the robot and its four armor plates
SHIFT = 4  # sub-pixel bits for cv2 polygon coordinates
SCALE = 1 << SHIFT
MIN_VISIBLE_ROBOT, MIN_VISIBLE_ARMOR = 0.4, 0.6
MIN_IN_FRAME = 0.4
MIN_ARMOR_FACING = np.cos(np.radians(72.0))
MIN_ARMOR_PX_AT_640 = 5.0
UP = np.array([0.0, 0.0, 1.0])


@dataclass
class Rendered:
    image: np.ndarray  # BGR uint8
    boxes: np.ndarray  # (K, 4) float32 x1, y1, x2, y2 pixels
    class_ids: np.ndarray  # (K,) int64 into CLASSES


class Canvas:
    """The colour image and the label-id buffer, drawn together."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.camera = scene.camera
        height, width = self.camera.height, self.camera.width
        rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
        top = np.array(scene.hall_top, np.float32)
        bottom = np.array(scene.hall_bottom, np.float32)
        gradient = (top + (bottom - top) * rows).astype(np.uint8)
        self.image = cv2.resize(gradient, (width, height), interpolation=cv2.INTER_NEAREST)
        self.ids = np.zeros((height, width), np.uint8)

    def shade(self, color, normal: np.ndarray | None) -> tuple:
        light = self.scene.ambient
        if normal is not None:
            light += self.scene.diffuse * max(0.0, float(normal @ self.scene.light_dir))
        factor = light * self.scene.exposure
        return tuple(min(255.0, float(c) * factor) for c in color)

    def fill(self, pixels: np.ndarray, color, label_id: int) -> None:
        points = np.round(pixels * SCALE).astype(np.int32)
        cv2.fillConvexPoly(self.image, points, color, cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(self.ids, points, label_id, cv2.LINE_8, SHIFT)

    def world_polygon(self, points: np.ndarray, color, label_id: int = 0) -> None:
        pixels = self.camera.polygon(points)
        if pixels is not None:
            self.fill(pixels, color, label_id)

    def draw_mesh(self, mesh: Mesh, palette: dict[str, tuple], glowing: frozenset[str],
                  label_base: int) -> None:
        """Visible faces, far parts first, one layer after the other; decals on their faces."""
        camera, scene = self.camera, self.scene
        camera_points = camera.to_camera(mesh.points)
        if camera_points[:, 2].max() <= NEAR:
            return
        base = np.array([palette[name] for name in mesh.role_names], np.float64)
        light = scene.ambient + scene.diffuse * np.clip(mesh.normals @ scene.light_dir, 0, None)
        colors = np.minimum(base[mesh.role_codes] * (light * scene.exposure)[:, None], 255.0)
        glow = np.array([name in glowing for name in mesh.role_names])[mesh.role_codes]
        colors[glow] = base[mesh.role_codes][glow]
        facing = ((camera.position - mesh.points[mesh.anchors]) * mesh.normals).sum(1) > 0
        pixels = camera.project(camera_points) if camera_points[:, 2].min() > NEAR else None
        depth = camera.to_camera(mesh.part_centers)[:, 2]
        part_rank = np.lexsort((-depth, mesh.part_layers)).argsort()
        for face in np.argsort(part_rank[mesh.face_parts], kind="stable"):
            if not facing[face]:
                continue
            corners = mesh.faces[face]
            polygon = pixels[corners] if pixels is not None else \
                camera.polygon_from_camera(camera_points[corners])
            if polygon is None:
                continue
            label_id = label_base + int(mesh.label_offsets[face])
            self.fill(polygon, tuple(colors[face].tolist()), label_id)
            for indices, role, kind in mesh.decals.get(int(face), ()):
                color = palette[role] if (kind == "light" and role in glowing) else \
                    self.shade(palette[role], mesh.normals[face])
                self._decal(camera_points[indices], color, kind, label_id)

    def _decal(self, points: np.ndarray, color, kind: str, label_id: int) -> None:
        if points[:, 2].min() <= NEAR:
            return
        pixels = self.camera.project(points)
        if kind != "stroke":
            self.fill(pixels, color, label_id)
            return
        thickness = max(1, int(round(float(np.linalg.norm(pixels[1] - pixels[0])) * 0.22)))
        a, b = np.round(pixels * SCALE).astype(int).tolist()
        cv2.line(self.image, tuple(a), tuple(b), color, thickness, cv2.LINE_AA, SHIFT)


def render_scene(scene: Scene) -> Rendered:
    canvas = Canvas(scene)
    _draw_hall(canvas)
    _draw_floor(canvas)
    _draw_walls(canvas)
    robots = []
    for index, spec in enumerate(scene.robots):
        mesh, plates = place_robot(spec.x, spec.y, spec.yaw, spec.turret_yaw, spec.look.number)
        robots.append((spec, 1 + IDS_PER_ROBOT * index, mesh, plates))
        footprint = box_vertices((0.0, 0.0, 0.001), (0.66, 0.56, 0.0))[[0, 1, 3, 2]]
        shadow = footprint @ rotation_z(spec.yaw).T + (spec.x, spec.y, 0.0)
        canvas.world_polygon(shadow, canvas.shade(tuple(0.55 * c for c in scene.floor_color),
                                                  UP))
    items = [(np.hypot(o.x, o.y) - 0.5 * max(o.size[:2]), "obstacle", o)
             for o in scene.obstacles]
    items += [(np.hypot(r[0].x, r[0].y) - 0.3, "robot", r) for r in robots]
    drawn: dict[int, tuple[int, tuple[int, int, int, int], float]] = {}
    for _, kind, item in sorted(items, key=lambda entry: -entry[0]):
        if kind == "obstacle":
            canvas.draw_mesh(_obstacle_mesh(item), {"obstacle": item.color}, frozenset(),
                             OCCLUDER_ID)
            continue
        spec, robot_id, mesh, plates = item
        look = spec.look
        palette = {name: look.color(name) for name in mesh.role_names}
        canvas.draw_mesh(mesh, palette, frozenset({"light"}) if look.lit else frozenset(),
                         robot_id)
        drawn[robot_id] = _count(canvas, mesh.points, robot_id, robot_id + IDS_PER_ROBOT - 1)
        for plate in plates:
            plate_id = robot_id + plate.label_offset
            drawn[plate_id] = _count(canvas, mesh.points[plate.points], plate_id, plate_id)
    boxes, class_ids = [], []
    for spec, robot_id, _, plates in robots:
        armor_boxes = [] if not spec.look.lit else [
            box for box in (_armor_box(canvas, plate, robot_id, drawn) for plate in plates)
            if box is not None]
        # a robot whose armor is labelled is labelled too, however much of it is hidden
        box = _visible_box(canvas, drawn[robot_id], robot_id, robot_id + IDS_PER_ROBOT - 1,
                           *((0.0, 0.0) if armor_boxes else (MIN_VISIBLE_ROBOT, MIN_IN_FRAME)))
        if box is not None:
            boxes.append(box)
            class_ids.append(ROBOT_CLASS[spec.look.team])
        boxes.extend(armor_boxes)
        class_ids.extend([ARMOR_CLASS.get(spec.look.team, 0)] * len(armor_boxes))
    return Rendered(canvas.image, np.array(boxes, np.float32).reshape(-1, 4),
                    np.array(class_ids, np.int64))


@cache
def _unit_box() -> Mesh:
    builder = MeshBuilder()
    builder.add_part(box_vertices((0.0, 0.0, 0.5), (1.0, 1.0, 1.0)), BOX_FACES, "obstacle")
    return builder.build()


def _obstacle_mesh(obstacle) -> Mesh:
    unit = _unit_box()
    size = np.asarray(obstacle.size)  # scaling along the box axes keeps its normals
    sized = replace(unit, points=unit.points * size, part_centers=unit.part_centers * size)
    return sized.placed(rotation_z(obstacle.yaw), (obstacle.x, obstacle.y, 0.0))


def _count(canvas: Canvas, points: np.ndarray, low: int, high: int):
    """(pixel count, ROI, fraction of the projected box inside the frame) right after drawing."""
    camera = canvas.camera
    in_camera = camera.to_camera(points)
    in_camera = in_camera[in_camera[:, 2] > NEAR]
    if not len(in_camera):
        return 0, (0, 0, 0, 0), 0.0
    pixels = camera.project(in_camera)
    (x1, y1), (x2, y2) = pixels.min(0), pixels.max(0)
    area = max((x2 - x1) * (y2 - y1), 1e-6)
    cx1, cy1 = max(x1, 0.0), max(y1, 0.0)
    cx2, cy2 = min(x2, camera.width), min(y2, camera.height)
    in_frame = max(cx2 - cx1, 0.0) * max(cy2 - cy1, 0.0) / area
    roi = (int(np.floor(cx1)), int(np.floor(cy1)), int(np.ceil(cx2)) + 1, int(np.ceil(cy2)) + 1)
    if roi[2] <= roi[0] or roi[3] <= roi[1]:
        return 0, roi, in_frame
    window = canvas.ids[roi[1]:roi[3], roi[0]:roi[2]]
    return int(np.count_nonzero((window >= low) & (window <= high))), roi, in_frame


def _visible_box(canvas: Canvas, counted, low: int, high: int, min_visible: float,
                 min_in_frame: float):
    full, roi, in_frame = counted
    if full == 0 or in_frame < min_in_frame:
        return None
    window = canvas.ids[roi[1]:roi[3], roi[0]:roi[2]]
    mask = (window >= low) & (window <= high)
    visible = int(np.count_nonzero(mask))
    if visible == 0 or visible < min_visible * full:
        return None
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return [roi[0] + cols[0], roi[1] + rows[0], roi[0] + cols[-1] + 1, roi[1] + rows[-1] + 1]


def _armor_box(canvas: Canvas, plate: ArmorPlate, robot_id: int, drawn):
    to_camera = canvas.camera.position - plate.center
    if float(plate.normal @ to_camera) < MIN_ARMOR_FACING * float(np.linalg.norm(to_camera)):
        return None
    plate_id = robot_id + plate.label_offset
    box = _visible_box(canvas, drawn[plate_id], plate_id, plate_id, MIN_VISIBLE_ARMOR,
                       MIN_IN_FRAME)
    min_px = MIN_ARMOR_PX_AT_640 * canvas.camera.width / 640
    if box is None or box[2] - box[0] < min_px or box[3] - box[1] < min_px:
        return None
    return box


def _draw_hall(canvas: Canvas) -> None:
    height, width = canvas.camera.height, canvas.camera.width
    for u, v, w, h, color in canvas.scene.banners:
        x1, y1 = int(u * width), int(v * height)
        cv2.rectangle(canvas.image, (x1, y1), (x1 + int(w * width), y1 + int(h * height)),
                      canvas.shade(color, None), -1)


def _draw_floor(canvas: Canvas) -> None:
    scene, camera = canvas.scene, canvas.camera
    hw, depth = scene.half_width, scene.depth
    floor = np.array([[-hw, -0.5, 0.0], [hw, -0.5, 0.0], [hw, depth, 0.0], [-hw, depth, 0.0]])
    canvas.world_polygon(floor, canvas.shade(scene.floor_color, UP))
    xs = np.arange(-np.floor(hw / scene.tile), np.floor(hw / scene.tile) + 1) * scene.tile
    ys = np.arange(0.0, depth, scene.tile)
    starts = np.concatenate([np.stack([xs, np.full_like(xs, -0.5), np.zeros_like(xs)], 1),
                             np.stack([np.full_like(ys, -hw), ys, np.zeros_like(ys)], 1)])
    ends = np.concatenate([np.stack([xs, np.full_like(xs, depth), np.zeros_like(xs)], 1),
                           np.stack([np.full_like(ys, hw), ys, np.zeros_like(ys)], 1)])
    a, b = camera.segments(starts, ends)
    seam = canvas.shade(tuple(0.8 * c for c in scene.floor_color), UP)
    lines = list(np.round(np.stack([a, b], 1) * SCALE).astype(np.int32))
    cv2.polylines(canvas.image, lines, False, seam, 1, cv2.LINE_AA, SHIFT)
    for corners, color in scene.markings:
        canvas.world_polygon(corners, canvas.shade(color, UP))


def _draw_walls(canvas: Canvas) -> None:
    scene = canvas.scene
    hw, depth, h = scene.half_width, scene.depth, scene.wall_height
    walls = (((-hw, depth), (hw, depth), (0.0, -1.0)), ((-hw, -0.5), (-hw, depth), (1.0, 0.0)),
             ((hw, depth), (hw, -0.5), (-1.0, 0.0)))
    for (x0, y0), (x1, y1), (nx, ny) in walls:
        normal = np.array([nx, ny, 0.0])
        quad = np.array([[x0, y0, 0.0], [x1, y1, 0.0], [x1, y1, h], [x0, y0, h]])
        canvas.world_polygon(quad, canvas.shade(scene.wall_color, normal))
        stripe = np.array([[x0, y0, 0.6 * h], [x1, y1, 0.6 * h], [x1, y1, 0.75 * h],
                           [x0, y0, 0.75 * h]])
        canvas.world_polygon(stripe, canvas.shade(scene.stripe_color, normal))
